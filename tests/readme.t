#!/bin/sh
# README.md's commands, followed literally on a clean clone.
exec "${PYTHON:-python3}" "$(dirname "$0")/readme.py"
