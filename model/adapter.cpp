#include "model/adapter.h"

#include <xxhash.h>

#include <cctype>

#include "model/fingerprint.h"
#include "tensor/error.h"

namespace kvlink {

namespace {

// The base weight a LoRA pair may update, with its GGUF shape [in, out].
struct LoraTarget {
  const char* name;  // as in blk.{l}.{name}.weight
  LoraPair LayerLora::*pair;
  int64_t in, out;
};

std::vector<LoraTarget> lora_targets(const HParams& hp) {
  const int64_t q_width = static_cast<int64_t>(hp.n_head) * hp.head_dim;
  return {
      {"attn_q", &LayerLora::wq, hp.n_embd, q_width},
      {"attn_k", &LayerLora::wk, hp.n_embd, hp.kv_width()},
      {"attn_v", &LayerLora::wv, hp.n_embd, hp.kv_width()},
      {"attn_output", &LayerLora::wo, q_width, hp.n_embd},
      {"ffn_gate", &LayerLora::ffn_gate, hp.n_embd, hp.n_ff},
      {"ffn_up", &LayerLora::ffn_up, hp.n_embd, hp.n_ff},
      {"ffn_down", &LayerLora::ffn_down, hp.n_ff, hp.n_embd},
  };
}

// A tensor's shape as two dimensions [ne0, ne1] (a 1-D tensor has ne1 = 1); false for more dimensions.
bool as_matrix(const GGUFTensorInfo& t, int64_t* ne0, int64_t* ne1) {
  size_t n = t.ne.size();
  while (n > 2 && t.ne[n - 1] == 1) --n;
  if (n > 2 || t.ne.empty()) return false;
  *ne0 = t.ne[0];
  *ne1 = n > 1 ? t.ne[1] : 1;
  return true;
}

std::string dims(int64_t a, int64_t b) { return "[" + std::to_string(a) + ", " + std::to_string(b) + "]"; }

// "blk.{l}.{target}.weight.lora_{a|b}" -> layer, target and which half; false when the name is not one.
bool parse_lora_name(const std::string& name, int64_t* layer, std::string* target, char* half) {
  const std::string prefix = "blk.", suffix_a = ".weight.lora_a", suffix_b = ".weight.lora_b";
  if (name.compare(0, prefix.size(), prefix) != 0 || name.size() <= prefix.size() + suffix_a.size()) return false;
  const std::string tail = name.substr(name.size() - suffix_a.size());
  if (tail != suffix_a && tail != suffix_b) return false;
  *half = tail.back();
  size_t i = prefix.size(), digits = 0;
  int64_t l = 0;
  while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])) && digits < 9) {
    l = l * 10 + (name[i++] - '0');
    ++digits;
  }
  if (digits == 0 || i >= name.size() || name[i] != '.') return false;
  *layer = l;
  *target = name.substr(i + 1, name.size() - suffix_a.size() - i - 1);
  return true;
}

}  // namespace

std::unique_ptr<Adapter> Adapter::load(const std::string& path, const std::string& base_path, const HParams& hp,
                                       uint64_t base_fingerprint) {
  std::unique_ptr<Adapter> ad(new Adapter(GGUFFile::open(path)));
  const GGUFFile& f = ad->file;
  auto fail = [&](const std::string& what) { throw Error(path + ": " + what); };

  const std::string type = f.get_string_or("general.type", "");
  if (type != "adapter") fail("not an adapter (general.type is '" + type + "', expected 'adapter')");
  const std::string adapter_type = f.get_string_or("adapter.type", "");
  if (adapter_type != "lora") fail("adapter.type is '" + adapter_type + "', expected 'lora'");
  const std::string arch = f.get_string_or("general.architecture", "");
  if (arch != hp.arch) fail("adapter for architecture '" + arch + "', but the model is '" + hp.arch + "'");
  if (!f.has(kKeyAdapterBaseFingerprint)) fail(std::string("no ") + kKeyAdapterBaseFingerprint + " key");
  const std::string made_for = f.get_string(kKeyAdapterBaseFingerprint);
  if (made_for != hex64(base_fingerprint)) {
    fail("made for base model " + made_for + ", but " + base_path + " has fingerprint " + hex64(base_fingerprint));
  }

  const std::vector<LoraTarget> targets = lora_targets(hp);
  ad->layers.resize(static_cast<size_t>(hp.n_layer));
  for (const GGUFTensorInfo& t : f.tensors()) {
    if (t.type != DType::F32 && t.type != DType::F16) {
      fail("tensor '" + t.name + "' is " + dtype_name(t.type) + "; adapter tensors must be f32 or f16");
    }
    int64_t ne0 = 0, ne1 = 0;
    if (!as_matrix(t, &ne0, &ne1)) fail("tensor '" + t.name + "' is not a matrix");
    if (t.name == kTensorLinkEmbd) {
      if (ne0 != hp.n_embd) {
        fail("tensor '" + t.name + "' has rows of " + std::to_string(ne0) + ", expected " + std::to_string(hp.n_embd));
      }
      if (ne1 < 1) fail("tensor '" + t.name + "' has no rows");
      ad->link_embd = &t;
      ad->n_link = static_cast<int32_t>(ne1);
      continue;
    }
    int64_t layer = 0;
    std::string target;
    char half = 0;
    if (!parse_lora_name(t.name, &layer, &target, &half)) fail("unknown tensor '" + t.name + "'");
    const LoraTarget* tgt = nullptr;
    for (const LoraTarget& c : targets) tgt = target == c.name ? &c : tgt;
    if (!tgt) fail("unknown tensor '" + t.name + "'");
    if (layer >= hp.n_layer) {
      fail("tensor '" + t.name + "': layer " + std::to_string(layer) + " is outside the model's " +
           std::to_string(hp.n_layer) + " layers");
    }
    LoraPair& pair = ad->layers[static_cast<size_t>(layer)].*(tgt->pair);
    // A is [in, r]: its rows are the base weight's input width; B is [r, out].
    const bool fits = half == 'a' ? ne0 == tgt->in : ne1 == tgt->out;
    if (!fits) {
      fail("tensor '" + t.name + "' has shape " + dims(ne0, ne1) + ", expected " +
           (half == 'a' ? "[" + std::to_string(tgt->in) + ", r]" : "[r, " + std::to_string(tgt->out) + "]"));
    }
    (half == 'a' ? pair.a : pair.b) = &t;
  }

  for (int64_t l = 0; l < hp.n_layer; ++l) {
    for (const LoraTarget& c : targets) {
      const LoraPair& pair = ad->layers[static_cast<size_t>(l)].*(c.pair);
      const std::string name = "blk." + std::to_string(l) + "." + c.name + ".weight";
      if (!pair.a != !pair.b) fail("'" + name + (pair.a ? ".lora_a' has no lora_b" : ".lora_b' has no lora_a"));
      if (!pair.a) continue;
      const int64_t r = pair.a->ne.size() > 1 ? pair.a->ne[1] : 1;
      if (r < 1) fail("'" + name + ".lora_a' has rank 0");
      if (pair.b->ne[0] != r) {
        fail("rank mismatch for '" + name + "': lora_a has rank " + std::to_string(r) + ", lora_b " +
             std::to_string(pair.b->ne[0]));
      }
    }
  }

  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  XXH3_64bits_update(st, &base_fingerprint, sizeof base_fingerprint);
  XXH3_64bits_update(st, f.file_data(), f.file_size());
  ad->fingerprint = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return ad;
}

}  // namespace kvlink
