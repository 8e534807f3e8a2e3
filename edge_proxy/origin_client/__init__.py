"""The pooled HTTP/1.1 client to the origin: connections kept alive and reused, framing read strictly,
answers streamed back.

It imports nothing else of edge_proxy: the pipeline drives it through its public names.
"""
