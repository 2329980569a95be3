"""Modal dialogs, one per file (CONVENTIONS.md §20); a screen pushes them and reads their result.

Reusable: ``confirm.ConfirmDialog`` (a question with a safe default) and
``secret_prompt.SecretPromptDialog`` (masked fields that stay open while the value is tried).
"""
