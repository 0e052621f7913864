"""Message names and the enumerations carried in their bodies (table A.1, appendix A.3)."""

from __future__ import annotations

# Executor → node.
REGISTER = "Register"
HEARTBEAT = "Heartbeat"
REPORT_LOGS = "ReportLogs"
REPORT_FINISH = "ReportFinish"
REPORT_VIDEO_RECORD = "ReportVideoRecord"

# Node → executor.
EXECUTE = "Execute"
STOP = "Stop"
SEND_LICENSE = "SendLicense"
ERROR = "Error"
CONFIRM = "Confirm"  # extension: answers a Heartbeat's ``confirm`` token once every earlier frame is stored
NONE = "None"  # HTTP heartbeat answer when there is nothing to do

# Log levels (A.3.2).
LOG_INFO = 0
LOG_WARNING = 1
LOG_ERROR = 2

# ReportFinish statuses (A.3.3).
STATUS_SUCCESS = 0
STATUS_CANCELLED = 1
STATUS_FAILED = 2

# Execute.videoRecordMode.
VIDEO_NEVER = 0
VIDEO_ALWAYS = 1
VIDEO_ON_FAILURE = 2
