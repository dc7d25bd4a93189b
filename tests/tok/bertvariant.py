#!/usr/bin/python3
"""bertvariant.py SRC DST KEY=VALUE... - copy a tokenizer.json with its
BertNormalizer settings changed (VALUE: true, false or null), as
mkgolden.js does for its bert-* variants."""
import json
import sys

j = json.load(open(sys.argv[1], encoding='utf-8'))
for kv in sys.argv[3:]:
    k, v = kv.split('=')
    j['normalizer'][k] = json.loads(v)
json.dump(j, open(sys.argv[2], 'w', encoding='utf-8'), ensure_ascii=False)
