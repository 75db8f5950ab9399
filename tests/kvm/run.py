#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs the KVM plugin tests: python3 tests/kvm/run.py [--build DIR] [-k NAME]

A minimal VMM of our own (tests/kvm/minivmm) on the real /dev/kvm is
checkpointed, killed and restored; the guest's counter must go on without
a gap or a reset. Uses the integration harness (tests/integration) and
its runner: one line per case, then "N passed, N failed".
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
import test_kvm  # noqa: E402,F401

if __name__ == '__main__':
    sys.exit(runner.main())
