"""Modal dialogs, one per file (CONVENTIONS.md §20); a screen pushes them and reads their result."""
