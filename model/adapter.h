// A KVLink adapter GGUF applied to a base model at load time (docs/LINK_TOKENS.md, "Adapters"): LoRA
// pairs on the attention and FFN projections (y = W x + B (A x), the scale alpha/r already folded into
// B) and the embedding rows of the link tokens, which are appended after the base vocabulary.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/gguf.h"
#include "model/hparams.h"

namespace kvlink {

// Metadata keys of an adapter file besides the kvlink.* link-token keys (kvlink/reuse/link_tokens.h).
inline constexpr const char* kKeyAdapterBaseFingerprint = "kvlink.base_fingerprint";
inline constexpr const char* kTensorLinkEmbd = "kvlink.link_embd";

// One low-rank update of a base weight W [in, out]: a = A [in, r], b = B [r, out] (F32 or F16).
// Both null when the adapter leaves W alone.
struct LoraPair {
  const GGUFTensorInfo* a = nullptr;
  const GGUFTensorInfo* b = nullptr;
};

struct LayerLora {
  LoraPair wq, wk, wv, wo, ffn_gate, ffn_up, ffn_down;
};

class Adapter {
 public:
  // Maps and checks the adapter at `path` against the base model (`base_path`, its hyper-parameters
  // and fingerprint): general.type "adapter", adapter.type "lora", the same architecture, the base
  // fingerprint, and every tensor's name, type and shape. Throws kvlink::Error with a one-line message
  // naming the file.
  static std::unique_ptr<Adapter> load(const std::string& path, const std::string& base_path, const HParams& hp,
                                       uint64_t base_fingerprint);

  GGUFFile file;                               // the tensors below point into its mapping
  uint64_t fingerprint = 0;                    // XXH3-64 of (base fingerprint, adapter file bytes)
  const GGUFTensorInfo* link_embd = nullptr;   // F32/F16 [n_embd, n_link]; null when it adds no tokens
  int32_t n_link = 0;                          // rows of link_embd: token ids n_vocab .. n_vocab + n_link - 1
  std::vector<LayerLora> layers;               // one per base layer

 private:
  explicit Adapter(GGUFFile f) : file(std::move(f)) {}
};

}  // namespace kvlink
