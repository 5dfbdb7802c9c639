"""What the tests share: fixtures' helpers, stories, real local servers, contract suites.

Test modules import from here (`from support.cli import Pursuit`), never from
conftest or from one another; conftest.py holds only fixtures.
"""
