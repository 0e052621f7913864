"""The executor protocol's vocabulary (standard appendix A, ``docs/protocol.md``), in one place.

Pure Python with no third-party imports: the node, the executor SDK and the conformance checker
import it alike, so an action name, an error code, a limit or the supplier-secret signature is
defined once. Modules: ``actions`` (message names and enumerations), ``codes`` (error codes),
``limits`` (sizes and waits both sides rely on), ``secret`` (the supplierSecret HMAC).
"""
