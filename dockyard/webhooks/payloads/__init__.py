"""GitLab's webhook payloads, one module per event kind, field for field as GitLab documents them
(``doc/user/project/integrations/webhook_events.md``, ``doc/administration/system_hooks.md``).

Builders are pure functions of the records they are given (plus git reads for pushes); URLs come from
the ``base`` external URL passed in, because they also run in the worker, outside any request.
"""
