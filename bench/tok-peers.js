#!/usr/bin/env node
// tok-peers.js - the reference tokenizers on a text file, for bench/tok.sh.
//
//   node bench/tok-peers.js PEER FILE
//
// PEER: hf-bert, hf-gpt2 (Hugging Face tokenizers, the npm binding's
// encodeBatch over 8192 lines at a time), tiktoken-node (native tiktoken,
// gpt2 encoding: encodeBatch), tiktoken-wasm (@dqbd/tiktoken, encode per
// line).  Lines are split on LF and decoded as tok does.  Prints
// "PEER seconds tokens": the encoding time alone (reading and splitting
// the file are not counted).  Threads: RAYON_NUM_THREADS as set by the
// caller (1 for a single thread).
'use strict';
const fs = require('fs');
const path = require('path');
const [peer, file] = process.argv.slice(2);
const vocab = path.join(__dirname, '..', 'tests', 'data', 'vocab');
const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(fs.readFileSync(file));
const lines = text.split('\n');
if (lines[lines.length - 1] === '') lines.pop();

async function main() {
	let ntok = 0, t0;
	if (peer === 'hf-bert' || peer === 'hf-gpt2') {
		const { Tokenizer } = require('tokenizers');
		const tok = Tokenizer.fromFile(path.join(vocab, peer === 'hf-bert' ? 'bert-base-uncased' : 'gpt2', 'tokenizer.json'));
		t0 = process.hrtime.bigint();
		for (let i = 0; i < lines.length; i += 8192)
			for (const e of await tok.encodeBatch(lines.slice(i, i + 8192), { addSpecialTokens: false }))
				ntok += e.getLength();
	} else if (peer === 'tiktoken-node') {
		const enc = require('tiktoken-node').getEncoding('gpt2');
		t0 = process.hrtime.bigint();
		for (let i = 0; i < lines.length; i += 8192)
			for (const ids of enc.encodeBatch(lines.slice(i, i + 8192)))
				ntok += ids.length;
	} else if (peer === 'tiktoken-wasm') {
		const enc = require('@dqbd/tiktoken').get_encoding('gpt2');
		t0 = process.hrtime.bigint();
		for (const l of lines)
			ntok += enc.encode_ordinary(l).length;
	} else
		throw new Error('unknown peer ' + peer);
	const s = Number(process.hrtime.bigint() - t0) / 1e9;
	console.log(`${peer} ${s.toFixed(3)} ${ntok}`);
}
main().catch((e) => { console.error(e.message); process.exit(1); });
