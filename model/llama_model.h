// A Llama-family model loaded from GGUF: hyper-parameters, weight tensors (left quantised in the
// mmap), tokenizer and chat template. Tensor names follow llama.cpp's GGUF conventions.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "model/adapter.h"
#include "model/chat_template.h"
#include "model/gguf.h"
#include "model/hparams.h"
#include "model/tokenizer.h"
#include "tensor/integer_dot.h"

namespace kvlink {

struct LayerWeights {
  const GGUFTensorInfo* attn_norm = nullptr;
  const GGUFTensorInfo* wq = nullptr;
  const GGUFTensorInfo* wk = nullptr;
  const GGUFTensorInfo* wv = nullptr;
  const GGUFTensorInfo* wo = nullptr;
  const GGUFTensorInfo* bq = nullptr;  // qwen2 only
  const GGUFTensorInfo* bk = nullptr;
  const GGUFTensorInfo* bv = nullptr;
  const GGUFTensorInfo* ffn_norm = nullptr;
  const GGUFTensorInfo* ffn_gate = nullptr;
  const GGUFTensorInfo* ffn_up = nullptr;
  const GGUFTensorInfo* ffn_down = nullptr;
};

struct ModelWeights {
  const GGUFTensorInfo* token_embd = nullptr;
  const GGUFTensorInfo* output_norm = nullptr;
  const GGUFTensorInfo* output = nullptr;      // token_embd when the embedding is tied
  const GGUFTensorInfo* rope_freqs = nullptr;  // Llama-3 frequency divisors, optional
  std::vector<LayerWeights> layers;
};

class Model {
 public:
  // Maps the GGUF, reads hyper-parameters, checks every tensor's presence, type and shape; then,
  // when `adapter_path` is not empty, attaches that adapter (model/adapter.h).
  // Throws kvlink::Error with a one-line message.
  static std::unique_ptr<Model> load(const std::string& path, const std::string& adapter_path = "");

  // The identity chunk caches are keyed by: model_fingerprint(file) without an adapter, XXH3-64 of
  // (that, the adapter's bytes) with one (an adapter changes every layer's K and V).
  uint64_t fingerprint() const { return adapter ? adapter->fingerprint : base_fingerprint_; }
  // Token ids the embedding accepts: the base vocabulary, then the adapter's link-token rows. Logits
  // stay over the base vocabulary (hp.n_vocab).
  int32_t n_vocab_total() const { return hp.n_vocab + (adapter ? adapter->n_link : 0); }

  GGUFFile file;
  HParams hp;
  ModelWeights weights;
  Tokenizer tokenizer;
  ChatTemplate chat;
  bool has_chat_template = false;  // false when the GGUF names no template we support
  std::unique_ptr<const Adapter> adapter;  // null: the base model alone
  // How the weight products are done: INT16 (activations rounded to 16 bits per block; the default,
  // for decoding and, where the CPU has AVX-512 VNNI, prefill too), F32 (the reference arithmetic) or
  // INT8 (llama.cpp's, decoding and prefills of up to 8 tokens); tensor/integer_dot.h,
  // tensor/integer_gemm.h, the tools' --products. Set before building graphs and cache stores.
  Products products = kDefaultProducts;

 private:
  uint64_t base_fingerprint_ = 0;
  explicit Model(GGUFFile f) : file(std::move(f)) {}
};

}  // namespace kvlink
