"""The executor hub: the executor protocol only (WebSocket ``/robothub/{id}``, HTTP
``/robots/connect/*``, files). It parses, authenticates, calls one kernel service and answers; it
imports kernels and ``common``, never a center."""
