#!/bin/sh
# -h and SYNOPSIS agree for every program; common options are common.
exec "${PYTHON:-python3}" "$(dirname "$0")/usage.py"
