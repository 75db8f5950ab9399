#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs the image engine tests: python3 tests/engine/run.py [--build DIR] [-k NAME]

Uses the integration harness (tests/integration/harness.py) and its runner:
one line per case, then "N passed, N failed".
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# the integration runner first: its run.py, not this one, is `run`
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))

import harness  # noqa: E402
import run as runner  # noqa: E402  (registers the integration cases)

harness.REGISTRY.clear()
import test_engine  # noqa: E402,F401
import test_core  # noqa: E402,F401

if __name__ == '__main__':
    sys.exit(runner.main())
