"""The assembly's policies, one module per kind, and the registry that maps a kind to its module.

A policy module owns everything the portal knows of its kind: the property schema with its defaults
(``PolicyKind.properties``), the compile step (the policy class's constructor: a bad configuration fails at
publish, naming the policy's title and the property) and the run step (``Policy.run``, per request), plus
what the console, the Postman export and rotation read of a configuration (its summary, its branches, the
token it makes or checks, the crypto objects it names). ``tokens.policies.registry`` lists the kinds;
``tokens.policies.walker`` is the one walk over an assembly; ``tokens.assembly`` compiles one. How to add a
policy: docs/architecture.md, "Adding a policy".

This package's ``__init__`` imports nothing, so a module that defines a policy class elsewhere
(``tokens.gatewayscript``) can import ``tokens.policies.base`` without importing the registry.
"""
