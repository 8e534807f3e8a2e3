"""Serving and processes: the listener every service of ours is served by (`listen.start_site`), the
client guards in front of it, event-loop choice, the pre-fork worker supervisor with its shared metrics
files, and the admin listeners.

It may import the request pipeline (to build the proxy a worker serves); the pipeline never imports it.
"""
