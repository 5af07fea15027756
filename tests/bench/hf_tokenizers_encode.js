// The Rust Hugging Face tokenizers library (through the npm binding @anush008/tokenizers 0.6.0) encoding a text
// whole, without special tokens, for docs/PERFORMANCE.md ("Tokenizer encode speed"), beside tokenizer_bench.cc.
// Not part of the build. Run from a scratch directory, never inside the repository:
//   npm install @anush008/tokenizers
//   TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1 node hf_tokenizers_encode.js tokenizer.json text.txt 3
// Prints MB per CPU-second of the whole node process and per wall-clock second.
const { Tokenizer } = require('@anush008/tokenizers');
const fs = require('fs');
const [tokPath, textPath, seconds] = process.argv.slice(2);
const tok = Tokenizer.fromFile(tokPath);
const text = fs.readFileSync(textPath, 'utf8');
const bytes = Buffer.byteLength(text, 'utf8');
(async () => {
  let enc = await tok.encode(text, null, { addSpecialTokens: false });  // warm-up (fills the BPE cache)
  const n0 = enc.getIds().length;
  let iterations = 0;
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < Number(seconds || 5)) {
    enc = await tok.encode(text, null, { addSpecialTokens: false });
    iterations++;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;  // every thread of the process: the encoding worker + node
  console.log(JSON.stringify({ cpu_seconds: cpuSeconds, mb_per_cpu_s: bytes * iterations / cpuSeconds / 1e6, tokenizer: tokPath, bytes, tokens: n0, iterations, seconds: elapsed,
                               mb_per_s: bytes * iterations / elapsed / 1e6, ms_per_encode: elapsed * 1000 / iterations }));
})();
