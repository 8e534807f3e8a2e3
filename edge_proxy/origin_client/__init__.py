"""The pooled HTTP/1.1 client to the origin: connections kept alive and reused, framing read strictly,
answers streamed back.

A sans-IO core (state.py: the connection's states and transition table; protocol.py: the request head
written, the origin's bytes in and events.py's events out) in a thin asyncio driver (connection.py),
behind the response buffer the relay reads (response.py) and the pool (pool.py). errors.py is the tree
of failures.
It imports nothing else of edge_proxy: the pipeline drives it through its public names.
"""
