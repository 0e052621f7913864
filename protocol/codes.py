"""Error codes of the executor protocol (``docs/protocol.md`` §5): ``resultValue.errorCode`` of a
refused HTTP call, ``errorCode`` of an ``Error`` frame. The first three are the standard's
(A.3.5); 10003-10008 are extensions; 19999 is the standard's "unknown error"."""

from __future__ import annotations

DUPLICATE_CONNECTION = 10000  # duplicate or superseded connection; the node closes it
BAD_REQUEST = 10001  # bad request fields (the hint names the field)
SUPPLIER_AUTH_FAILED = 10002  # supplierSecret wrong, replayed, skewed, or supplier unknown/disabled
NOT_REGISTERED = 10003  # no (or an expired) registration / run token
ROBOT_DISABLED = 10004  # disabled, or pending approval by a node admin
LICENSE_UNAVAILABLE = 10005
UNKNOWN_RUN = 10006  # unknown or foreign runInstanceId
TOO_LARGE = 10007  # a frame, body or upload over its limit
THROTTLED = 10008  # the node is overloaded: nothing was applied, send it again later
UNKNOWN_ERROR = 19999  # the node failed: nothing was applied, send it again later

#: Codes after which trying again with the same credentials is pointless until an admin acts.
FATAL_CODES = frozenset({SUPPLIER_AUTH_FAILED, ROBOT_DISABLED})
#: Refusals that mean "not applied this time": the executor sends the same report again later.
RETRY_LATER_CODES = frozenset({THROTTLED, UNKNOWN_ERROR})
