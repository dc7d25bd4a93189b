#!/usr/bin/env node
// mkgolden.js - reference token ids for the tokenizer tests, made with
// Hugging Face tokenizers through its official npm binding.
//
// Usage, from the repository root:
//   NODE_PATH=/path/to/node_modules node tests/tok/mkgolden.js [name...]
// where a name (a corpus: hard prose man-en man-intl code scalars, or a
// model: bert gpt2 bert-cased ...) limits the work to those; the default is
// everything.
// (`npm install tokenizers` in a scratch directory gives the module.)
//
// Reads the corpora tests/data/tok/*.txt.xz and the output of
// tests/tok/scalars.py, splits each into lines as tok does (LF only; a
// last line without LF counts; invalid UTF-8 becomes U+FFFD per maximal
// subpart, a BOM is a character), and writes tests/data/tok/golden/:
//   C.M.ids.xz        ids, one line per input line (M = bert, gpt2); a file
//                     that would pass 1.9 MB is cut into C.M.ids.partK.xz
//   C.M.plain.xz      "N<TAB>ids" for each line N whose ids differ when the
//                     special tokens are not split out (tok --plain)
//   hard.M.s.xz       with special tokens (tok -s): "ids<TAB>type ids";
//                     for BERT a line with a TAB is the pair (before, after)
//   hard.M.s-l12.xz   the same truncated to 12 tokens (tok -s -l 12)
//   hard.M.l5.xz      ids truncated to 5 tokens (tok -l 5)
//   C.bert.dec.xz     decode(ids) (tok -d), C = hard, prose, man-intl
//   C.bert.offs.xz    "id:start:end" byte offsets (tok --offsets), C = hard,
//                     and man-intl's first 8000 lines
//   C.V.ids.xz        ids with other BertNormalizer settings (V = bert-cased
//                     bert-strip bert-keep bert-nocjk bert-noclean; C = hard
//                     and scalars, and man-intl for bert-cased)
'use strict';
const T = require('tokenizers');
const fs = require('fs');
const { execFileSync } = require('child_process');

const dir = 'tests/data/tok';
const gdir = process.env.GOLDEN_DIR || dir + '/golden';	// GOLDEN_DIR: write elsewhere
const vocab = 'tests/data/vocab';
fs.mkdirSync(gdir, { recursive: true });

const models = {
	bert: vocab + '/bert-base-uncased/tokenizer.json',
	gpt2: vocab + '/gpt2/tokenizer.json',
};
// Other BertNormalizer settings, on bert-base-uncased's vocabulary (tok.t
// makes the same tokenizer.json files with tests/tok/bertvariant.py).
const variants = {
	'bert-cased': { lowercase: false },
	'bert-strip': { lowercase: false, strip_accents: true },
	'bert-keep': { strip_accents: false },
	'bert-nocjk': { handle_chinese_chars: false },
	'bert-noclean': { clean_text: false },
};
// (man-intl for bert-cased only, to keep the files few)
const variantCorpora = (v) => v === 'bert-cased' ? ['hard', 'man-intl', 'scalars'] : ['hard', 'scalars'];

function load(path, plain, patch) {
	const j = JSON.parse(fs.readFileSync(path, 'utf8'));
	if (plain) j.added_tokens = j.added_tokens.filter((t) => !t.special);
	if (patch) Object.assign(j.normalizer, patch);
	return T.Tokenizer.fromString(JSON.stringify(j));
}

const rawLines = new Map();	// decoded lines -> their raw bytes
function lines(buf) {
	const dec = new TextDecoder('utf-8', { ignoreBOM: true });
	const out = [], raw = [];
	let s = 0;
	for (;;) {
		const i = buf.indexOf(10, s);
		if (i < 0) break;
		raw.push(buf.subarray(s, i));
		s = i + 1;
	}
	if (s < buf.length) raw.push(buf.subarray(s));
	for (const r of raw) out.push(dec.decode(r));
	rawLines.set(out, raw);
	return out;
}

// Write gdir/NAME.xz, or, when that would pass 1.9 MB, NAME.part1.xz ...
// NAME.partK.xz: the text's lines cut into K runs of equal count.
function xz(name, text) {
	const pack = (t) => execFileSync('xz', ['-9', '-T1'], { input: t, maxBuffer: 1 << 30 });
	const base = gdir + '/' + name.replace(/\.xz$/, '');
	let z = pack(text);
	if (z.length < 1900000) {
		fs.writeFileSync(base + '.xz', z);
		console.error(name, z.length);
		return;
	}
	const ls = text.split('\n');
	ls.pop();	// text ends with a newline
	const k = Math.ceil(z.length / 1700000);
	for (let i = 0; i < k; i++) {
		const part = ls.slice(Math.floor(i * ls.length / k), Math.floor((i + 1) * ls.length / k));
		z = pack(part.join('\n') + '\n');
		fs.writeFileSync(`${base}.part${i + 1}.xz`, z);
		console.error(`${base}.part${i + 1}.xz`, z.length);
	}
}

async function batch(tok, ls, opts, pairs) {
	const res = [];
	if (pairs) {
		// the binding's batch takes no pairs: one at a time
		for (const l of ls) {
			const t = l.indexOf('\t');
			res.push(t >= 0 ? await tok.encode(l.slice(0, t), l.slice(t + 1), opts) : await tok.encode(l, null, opts));
		}
		return res;
	}
	for (let i = 0; i < ls.length; i += 8192)
		res.push(...(await tok.encodeBatch(ls.slice(i, i + 8192), opts)));
	return res;
}

// The input bytes each character of a decoded line came from: its UTF-8
// length, or for a U+FFFD made from invalid bytes the length of the
// maximal invalid subpart it replaced (WHATWG = Unicode's practice).
function charBytes(raw) {
	const spans = [];
	for (let i = 0; i < raw.length;) {
		const b = raw[i];
		let len = 0, lo = 0x80, hi = 0xbf;
		if (b < 0x80) len = 1;
		else if (b >= 0xc2 && b <= 0xdf) len = 2;
		else if (b >= 0xe0 && b <= 0xef) { len = 3; if (b === 0xe0) lo = 0xa0; if (b === 0xed) hi = 0x9f; }
		else if (b >= 0xf0 && b <= 0xf4) { len = 4; if (b === 0xf0) lo = 0x90; if (b === 0xf4) hi = 0x8f; }
		if (len === 0) { spans.push(1); i++; continue; }
		let k = 1;
		for (; k < len; k++) {
			if (i + k >= raw.length || raw[i + k] < lo || raw[i + k] > hi) break;
			lo = 0x80; hi = 0xbf;
		}
		spans.push(k);	// k < len: an invalid subpart, one U+FFFD
		i += k;
	}
	return spans;
}

// char (code point) offsets to byte offsets in the raw input line
function byteOffsets(raw, offs) {
	const pre = [0];
	for (const n of charBytes(raw)) pre.push(pre[pre.length - 1] + n);
	return offs.map(([a, b]) => [pre[a], pre[b]]);
}

// Optional arguments: corpora and/or models to (re)make; default all.
const want = process.argv.slice(2);
const isModel = (x) => x in models || x in variants;
const wanted = (x) => want.length === 0 || want.includes(x) ||
	(!want.some(isModel) && isModel(x)) ||
	(!want.some((w) => !isModel(w)) && !isModel(x));

async function main() {
	const corpora = {};
	for (const c of ['hard', 'prose', 'man-en', 'man-intl', 'code'])
		if (wanted(c) || (c === 'hard' && wanted('hard')))
			corpora[c] = lines(execFileSync('xz', ['-dc', `${dir}/${c}.txt.xz`], { maxBuffer: 1 << 30 }));
	if (wanted('scalars'))
		corpora.scalars = lines(execFileSync('/usr/bin/python3', ['tests/tok/scalars.py'], { maxBuffer: 1 << 30 }));
	for (const [m, path] of Object.entries(models)) {
		if (!wanted(m))
			continue;
		const tok = load(path, false), plain = load(path, true);
		for (const [c, ls] of Object.entries(corpora)) {
			const enc = await batch(tok, ls, { addSpecialTokens: false });
			const ids = enc.map((e) => e.getIds().join(' '));
			xz(`${c}.${m}.ids.xz`, ids.join('\n') + '\n');
			const penc = await batch(plain, ls, { addSpecialTokens: false });
			let diff = '';
			penc.forEach((e, i) => {
				const p = e.getIds().join(' ');
				if (p !== ids[i]) diff += `${i + 1}\t${p}\n`;
			});
			xz(`${c}.${m}.plain.xz`, diff);
			if (m === 'bert' && ['hard', 'prose', 'man-intl'].includes(c)) {
				const d = [];
				for (const e of enc) d.push(await tok.decode(e.getIds(), false));
				xz(`${c}.${m}.dec.xz`, d.join('\n') + '\n');
			}
			if (m === 'bert' && ['hard', 'man-intl'].includes(c)) {
				// man-intl: its first 8000 lines keep the file small
				const o = enc.slice(0, c === 'hard' ? enc.length : 8000).map((e, i) => {
					const bo = byteOffsets(rawLines.get(ls)[i], e.getOffsets());
					return e.getIds().map((id, k) => `${id}:${bo[k][0]}:${bo[k][1]}`).join(' ');
				});
				xz(`${c}.${m}.offs.xz`, o.join('\n') + '\n');
			}
		}
		const hard = corpora.hard, pairs = m === 'bert';
		if (!hard)
			continue;
		const s = await batch(tok, hard, { addSpecialTokens: true }, pairs);
		xz(`hard.${m}.s.xz`, s.map((e) => e.getIds().join(' ') + '\t' + e.getTypeIds().join(' ')).join('\n') + '\n');
		const tr = load(path, false);
		tr.setTruncation(12);
		const s12 = await batch(tr, hard, { addSpecialTokens: true }, pairs);
		xz(`hard.${m}.s-l12.xz`, s12.map((e) => e.getIds().join(' ') + '\t' + e.getTypeIds().join(' ')).join('\n') + '\n');
		const t5 = load(path, false);
		t5.setTruncation(5);
		const l5 = await batch(t5, hard, { addSpecialTokens: false });
		xz(`hard.${m}.l5.xz`, l5.map((e) => e.getIds().join(' ')).join('\n') + '\n');
	}
	for (const [v, patch] of Object.entries(variants)) {
		if (!wanted(v))
			continue;
		const tok = load(models.bert, false, patch);
		for (const c of variantCorpora(v)) {
			if (!corpora[c])
				continue;
			const enc = await batch(tok, corpora[c], { addSpecialTokens: false });
			xz(`${c}.${v}.ids.xz`, enc.map((e) => e.getIds().join(' ')).join('\n') + '\n');
		}
	}
	const pkg = require(require.resolve('tokenizers/package.json'));
	fs.writeFileSync(gdir + '/VERSION', `tokenizers ${pkg.version} (npm), node ${process.version}\n`);
}

main().catch((e) => { console.error(e); process.exit(1); });
