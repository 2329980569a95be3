"""The check ids and statuses: the one list, read by the core, the CLI's parser and the pane.
Nothing but constants here, so that building the CLI's parser stays cheap."""

PASS, WARN, FAIL, SKIP, MANUAL = "pass", "warn", "fail", "skip", "manual"
STATUSES = (PASS, WARN, FAIL, SKIP, MANUAL)

CHECK_IDS = (
    "dns",
    "proxy",
    "tcp",
    "tls",
    "http",
    "clock",
    "ssb_certificate",
    "tpf_certificate",
    "secure_dir",
    "profile",
    "feedback_gateway",
    "spam_allowlist",
    "postmottak_routing",
)
MANUAL_CHECKS = {"spam_allowlist": "spam_allowlist_confirmed", "postmottak_routing": "postmottak_routing_confirmed"}
