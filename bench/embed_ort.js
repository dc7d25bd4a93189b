// embed_ort.js - the ONNX Runtime peer of bench/embed.sh: the model that
// bench/embed_torch.py exported, through npm's onnxruntime-node, on random
// full-length sequences; prints tokens/s for each shape (best run).
//
//   NODE_PATH=DIR/node_modules node embed_ort.js MODEL.onnx THREADS VOCAB BxT...
const ort = require('onnxruntime-node');

async function main() {
	const [model, threads, vocab, ...shapes] = process.argv.slice(2);
	const sess = await ort.InferenceSession.create(model, {
		intraOpNumThreads: Number(threads), interOpNumThreads: 1,
		graphOptimizationLevel: 'all', executionMode: 'sequential'});
	for (const shape of shapes) {
		const [B, T] = shape.split('x').map(Number);
		const ids = new BigInt64Array(B * T), types = new BigInt64Array(B * T);
		const mask = new BigInt64Array(B * T).fill(1n);
		let seed = B * 1000 + T;
		for (let i = 0; i < B * T; i++) {
			seed = (seed * 1103515245 + 12345) % 2147483648;
			ids[i] = BigInt(5 + seed % (Number(vocab) - 5));
		}
		for (let b = 0; b < B; b++) {
			ids[b * T] = 2n;
			ids[b * T + T - 1] = 3n;
		}
		const feeds = {
			input_ids: new ort.Tensor('int64', ids, [B, T]),
			token_type_ids: new ort.Tensor('int64', types, [B, T]),
			attention_mask: new ort.Tensor('int64', mask, [B, T])};
		await sess.run(feeds);
		let best = Infinity, n = 0;
		const start = performance.now();
		while (n < 3 || (performance.now() - start < 5000 && n < 50)) {
			const t0 = performance.now();
			await sess.run(feeds);
			best = Math.min(best, performance.now() - t0);
			n++;
		}
		console.log(`${shape} ${(B * T / (best / 1000)).toFixed(1)}`);
	}
}
main().catch((e) => { console.error(e.message); process.exit(1); });
