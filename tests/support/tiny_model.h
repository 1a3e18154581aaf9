// Tiny random Llama/Qwen2 models written as complete GGUF files, so forward-pass tests run in
// milliseconds and need no download: a byte-level gpt2 tokenizer with ChatML specials, seeded random
// weights, and the dequantised F32 value of every weight for an independent reference to use.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace kvlink::testing {

struct TinyModelSpec {
  std::string arch = "llama";  // "llama" or "qwen2" (qwen2 adds Q/K/V biases); others are for loader tests
  int n_layer = 2;
  int n_embd = 64;
  int n_head = 4;
  int n_head_kv = 2;
  int n_ff = 96;
  int n_ctx_train = 512;           // {arch}.context_length
  float rms_eps = 1e-5f;
  float rope_freq_base = 10000.0f;
  bool llama3_rope_freqs = false;  // write rope_freqs.weight [head_dim/2] with factors != 1
  bool tied = false;               // no output.weight: the output projection reuses token_embd
  DType weight_type = DType::F32;  // 2-D matrices: F32, F16, Q4_0, Q4_1 or Q8_0 (1-D tensors stay F32)
  uint64_t seed = 1;
  // Zero the output rows of the special tokens: their logits are then exactly 0 while the largest of
  // the other 260 random logits is positive, so greedy decoding never ends generation early.
  bool quiet_specials = false;
  // KVLink link-token metadata (kvlink.*, docs/LINK_TOKENS.md), written when link_per_doc > 0.
  int link_per_doc = 0;
  int link_max_docs = 0;
  std::vector<int32_t> link_ids;
  // Deliberate breakage, for tests of the loader's error messages.
  std::string omit_tensor;      // this tensor is not written
  std::string misshape_tensor;  // this tensor is written with one extra row (last dimension + 1)
};

// The tokenizer every tiny model carries: ids 0..255 are the GPT-2 byte alphabet in byte order,
// then the merged tokens, then the specials.
constexpr int kTinyVocab = 263;
constexpr int kTinyEndOfText = 260;  // "<|endoftext|>", also BOS
constexpr int kTinyImStart = 261;    // "<|im_start|>"
constexpr int kTinyImEnd = 262;      // "<|im_end|>", EOS

// One weight as the GGUF stores it, with its dequantised values (what an exact reader sees).
struct TinyTensor {
  std::string name;
  DType type = DType::F32;
  std::vector<int64_t> ne;     // fastest-varying first
  std::vector<uint8_t> data;   // the bytes written to the file
  std::vector<float> values;   // dequantised, n_elements values
};

// The weights of the model `spec` describes, in file order; deterministic in spec (seed included).
std::vector<TinyTensor> make_tiny_weights(const TinyModelSpec& spec);

// Writes the complete GGUF (metadata, tokenizer, chat template, weights) to `path`; returns `path`.
std::string write_tiny_model(const TinyModelSpec& spec, const std::string& path);
// The same with `weights` (e.g. edited copies of make_tiny_weights(spec)) written instead of the
// spec's own; their `data` is what the file holds.
std::string write_tiny_model(const TinyModelSpec& spec, const std::vector<TinyTensor>& weights, const std::string& path);

// A tensor of `type` holding `raw` rounded to that type, with its dequantised values.
TinyTensor make_tiny_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne, const std::vector<float>& raw);

// A file path in the system temporary directory, unique to this process: "<tmp>/kvlink-<pid>-<name>".
std::string temp_path(const std::string& name);

}  // namespace kvlink::testing
