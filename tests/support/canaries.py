"""Canary secrets: values that look real and must never reach a log, a screen, a file or argv."""

PIN_CANARY = "PIN-CANARY-7391"
# A synthetic identity number (month + 80, valid check digits), never a real person's.
FNR_CANARY = "01918099960"
