#include "model/hparams.h"

#include <string>

#include "model/gguf.h"
#include "tensor/error.h"

namespace kvlink {

namespace {
int32_t positive(const GGUFFile& f, const std::string& key, int64_t v) {
  if (v <= 0 || v > (int64_t{1} << 30)) throw Error(f.path() + ": " + key + " = " + std::to_string(v) + " is out of range");
  return static_cast<int32_t>(v);
}
}  // namespace

HParams read_hparams(const GGUFFile& f) {
  HParams hp;
  hp.arch = f.get_string("general.architecture");
  // RoPE pairing per architecture, as llama.cpp assigns it: llama GGUFs store Q/K rows permuted for
  // adjacent-pair rotation; qwen2 keeps Hugging Face's half-split (NeoX) order.
  if (hp.arch == "llama") {
    hp.rope.mode = RopeMode::NORM;
  } else if (hp.arch == "qwen2") {
    hp.rope.mode = RopeMode::NEOX;
    hp.qkv_bias = true;
  } else {
    throw Error(f.path() + ": unsupported architecture '" + hp.arch + "' (supported: llama, qwen2)");
  }
  const std::string a = hp.arch + ".";
  hp.n_embd = positive(f, a + "embedding_length", f.get_int(a + "embedding_length"));
  hp.n_layer = positive(f, a + "block_count", f.get_int(a + "block_count"));
  hp.n_ff = positive(f, a + "feed_forward_length", f.get_int(a + "feed_forward_length"));
  hp.n_head = positive(f, a + "attention.head_count", f.get_int(a + "attention.head_count"));
  hp.n_head_kv = positive(f, a + "attention.head_count_kv", f.get_int_or(a + "attention.head_count_kv", hp.n_head));
  hp.n_ctx_train = positive(f, a + "context_length", f.get_int_or(a + "context_length", 2048));
  hp.head_dim = positive(f, a + "attention.key_length", f.get_int_or(a + "attention.key_length", hp.n_embd / hp.n_head));
  hp.rms_eps = static_cast<float>(f.get_float_or(a + "attention.layer_norm_rms_epsilon", 1e-5));
  hp.rope.freq_base = static_cast<float>(f.get_float_or(a + "rope.freq_base", 10000.0));
  hp.rope.n_rot = positive(f, a + "rope.dimension_count", f.get_int_or(a + "rope.dimension_count", hp.head_dim));
  const std::string scaling = f.get_string_or(a + "rope.scaling.type", "none");
  if (scaling == "linear") {
    const double factor = f.get_float_or(a + "rope.scaling.factor", 1.0);
    if (!(factor > 0.0)) throw Error(f.path() + ": rope.scaling.factor must be positive");
    hp.rope.freq_scale = static_cast<float>(1.0 / factor);
  } else if (scaling != "none" && scaling != "llama3") {
    // llama3 scaling is carried by the rope_freqs.weight tensor, not by these keys.
    throw Error(f.path() + ": unsupported RoPE scaling '" + scaling + "'");
  }
  if (hp.n_head % hp.n_head_kv != 0) throw Error(f.path() + ": head_count is not a multiple of head_count_kv");
  if (hp.rope.n_rot > hp.head_dim || hp.rope.n_rot % 2 != 0) throw Error(f.path() + ": bad rope.dimension_count");
  const GGUFValue* tokens = f.find("tokenizer.ggml.tokens");
  hp.n_vocab = static_cast<int32_t>(f.get_int_or(a + "vocab_size", tokens ? static_cast<int64_t>(tokens->array_size()) : 0));
  positive(f, "vocabulary size", hp.n_vocab);
  return hp;
}

}  // namespace kvlink
