// Hyper-parameters of a Llama-family model, read from GGUF metadata ({arch}.* keys).
#pragma once
#include <cstdint>
#include <string>

#include "tensor/ops.h"

namespace kvlink {

class GGUFFile;

struct HParams {
  std::string arch;         // general.architecture: "llama" or "qwen2"
  int32_t n_vocab = 0;
  int32_t n_ctx_train = 0;  // {arch}.context_length
  int32_t n_embd = 0;
  int32_t n_layer = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t head_dim = 0;
  int32_t n_ff = 0;
  float rms_eps = 1e-5f;
  RopeParams rope;
  bool qkv_bias = false;    // qwen2 has Q/K/V biases

  int32_t kv_width() const { return n_head_kv * head_dim; }
};

// Throws kvlink::Error for an unsupported architecture or inconsistent values.
HParams read_hparams(const GGUFFile& file);

}  // namespace kvlink
