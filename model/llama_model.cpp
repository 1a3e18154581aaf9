#include "model/llama_model.h"

#include <sstream>

#include "model/fingerprint.h"
#include "tensor/error.h"

namespace kvlink {

namespace {
std::string dims(const std::vector<int64_t>& ne) {
  std::ostringstream s;
  s << '[';
  for (size_t i = 0; i < ne.size(); ++i) s << (i ? ", " : "") << ne[i];
  s << ']';
  return s.str();
}

// The named tensor, checked against the expected shape; null when optional and absent.
const GGUFTensorInfo* want(const GGUFFile& f, const std::string& name, std::vector<int64_t> ne, bool required = true) {
  const GGUFTensorInfo* t = f.find_tensor(name);
  if (!t) {
    if (required) throw Error(f.path() + ": missing tensor '" + name + "'");
    return nullptr;
  }
  while (ne.size() > 1 && ne.back() == 1) ne.pop_back();
  std::vector<int64_t> got = t->ne;
  while (got.size() > 1 && got.back() == 1) got.pop_back();
  if (got != ne) throw Error(f.path() + ": tensor '" + name + "' has shape " + dims(t->ne) + ", expected " + dims(ne));
  const bool needs_f32 = ne.size() == 1;  // norms, biases and frequency factors are read as F32
  if (needs_f32 && t->type != DType::F32) {
    throw Error(f.path() + ": tensor '" + name + "' must be f32, is " + dtype_name(t->type));
  }
  if (t->type == DType::I32) throw Error(f.path() + ": tensor '" + name + "' has integer type");
  return t;
}
}  // namespace

std::unique_ptr<Model> Model::load(const std::string& path, const std::string& adapter_path) {
  std::unique_ptr<Model> m(new Model(GGUFFile::open(path)));
  const GGUFFile& f = m->file;
  m->hp = read_hparams(f);
  const HParams& hp = m->hp;
  const int64_t q_width = static_cast<int64_t>(hp.n_head) * hp.head_dim;
  ModelWeights& w = m->weights;
  w.token_embd = want(f, "token_embd.weight", {hp.n_embd, hp.n_vocab});
  w.output_norm = want(f, "output_norm.weight", {hp.n_embd});
  w.output = want(f, "output.weight", {hp.n_embd, hp.n_vocab}, false);
  if (!w.output) w.output = w.token_embd;  // tied embeddings (SmolLM2, small Qwen2)
  w.rope_freqs = want(f, "rope_freqs.weight", {hp.rope.n_rot / 2}, false);
  w.layers.resize(static_cast<size_t>(hp.n_layer));
  for (int32_t l = 0; l < hp.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    LayerWeights& L = w.layers[static_cast<size_t>(l)];
    L.attn_norm = want(f, p + "attn_norm.weight", {hp.n_embd});
    L.wq = want(f, p + "attn_q.weight", {hp.n_embd, q_width});
    L.wk = want(f, p + "attn_k.weight", {hp.n_embd, hp.kv_width()});
    L.wv = want(f, p + "attn_v.weight", {hp.n_embd, hp.kv_width()});
    L.wo = want(f, p + "attn_output.weight", {q_width, hp.n_embd});
    L.bq = want(f, p + "attn_q.bias", {q_width}, hp.qkv_bias);
    L.bk = want(f, p + "attn_k.bias", {hp.kv_width()}, hp.qkv_bias);
    L.bv = want(f, p + "attn_v.bias", {hp.kv_width()}, hp.qkv_bias);
    L.ffn_norm = want(f, p + "ffn_norm.weight", {hp.n_embd});
    L.ffn_gate = want(f, p + "ffn_gate.weight", {hp.n_embd, hp.n_ff});
    L.ffn_up = want(f, p + "ffn_up.weight", {hp.n_embd, hp.n_ff});
    L.ffn_down = want(f, p + "ffn_down.weight", {hp.n_ff, hp.n_embd});
  }
  m->tokenizer = Tokenizer::from_gguf(f);
  if (m->tokenizer.n_vocab() != hp.n_vocab) {
    throw Error(path + ": tokenizer has " + std::to_string(m->tokenizer.n_vocab()) + " tokens but the model " +
                std::to_string(hp.n_vocab));
  }
  try {
    m->chat = ChatTemplate::from_gguf(f);
    m->has_chat_template = true;
  } catch (const Error&) {
    m->has_chat_template = false;  // plain prompts still work; --chat reports the problem
  }
  m->base_fingerprint_ = model_fingerprint(f);
  if (!adapter_path.empty()) m->adapter = Adapter::load(adapter_path, path, hp, m->base_fingerprint_);
  return m;
}

}  // namespace kvlink
