"""The request pipeline: one request from its head to the origin and back (`app.Proxy`): headers the edge
decides on, the body read and buffered, the profile selected, protected values encrypted through the fields
layer, the answer relayed; the configuration compiled at load and reloaded on SIGHUP; metrics and the
access log.

It may import the fields layer, the origin client and the encoders; never serving (above it) nor any
private-key code.
"""
