// An independent reference forward pass of a Llama/Qwen2 model: plain scalar loops with double
// accumulation over dequantised weights, sharing no code with the engine's graph, ops or kernels.
// It takes explicit RoPE positions and an arbitrary visibility matrix, so it also serves as the
// KVLink paper's "one forward pass with a segment mask" reference.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "support/tiny_model.h"

namespace kvlink::testing {

// Weights as row-major F32 matrices: a GGUF tensor [K, N] is N rows of K values, y[n] = row n . x.
struct ReferenceLayer {
  std::vector<float> attn_norm, wq, wk, wv, wo, bq, bk, bv;  // biases empty when absent
  std::vector<float> ffn_norm, ffn_gate, ffn_up, ffn_down;
};

struct ReferenceModel {
  std::string arch;  // "llama" (adjacent-pair RoPE) or "qwen2" (half-split / NeoX RoPE)
  int n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_ff = 0, n_vocab = 0, n_rot = 0;
  double rms_eps = 1e-5;
  double rope_freq_base = 10000.0;
  double rope_freq_scale = 1.0;     // linear RoPE scaling (1 / rope.scaling.factor)
  std::vector<float> token_embd, output_norm, output, rope_freqs;  // rope_freqs empty when absent
  std::vector<ReferenceLayer> layers;
};

// Reads hyper-parameters from the GGUF metadata keys and dequantises every weight with
// ref::dequantize_row. Tied models get output = token_embd. Throws kvlink::Error when something is
// missing.
ReferenceModel reference_model_from_gguf(const std::string& path);
// The same model from the tiny model's in-memory weights (no file involved).
ReferenceModel reference_model_from_tiny(const TinyModelSpec& spec);

// visible[i * n + j] != 0: token i attends to token j (n = tokens.size()). A token that sees no
// token gets a zero attention output.
std::vector<uint8_t> causal_visibility(int n);

// APE's context groups (tensor/ops.h): context[i * n + j] != 0 puts key j in query i's context group,
// whose scores are divided by `temperature` and whose log-sum-exp is multiplied by `lse_scale` before
// the two groups' softmaxes are merged. A query with no context key attends as usual.
struct ReferenceGroups {
  std::vector<uint8_t> context;
  double temperature = 1.0, lse_scale = 1.0;
};

// Logits [n_tokens][n_vocab] of every position.
// `key_positions` (optional, n x n): query i sees key j rotated to key_positions[i * n + j] instead of
// positions[j] (a chunk that saw the opening from right after it, and is seen by later tokens at its
// place in the layout: mode prefix). positions[i] is token i's RoPE position; an empty
// `visible` means causal.
std::vector<std::vector<double>> reference_forward(const ReferenceModel& model, const std::vector<int32_t>& tokens,
                                                   const std::vector<int32_t>& positions,
                                                   const std::vector<uint8_t>& visible = {},
                                                   const ReferenceGroups* groups = nullptr,
                                                   const std::vector<int32_t>* key_positions = nullptr);

}  // namespace kvlink::testing
