#include "support/tiny_model.h"

#include <unistd.h>

#include <filesystem>
#include <random>

#include "model/gguf.h"
#include "tensor/quant.h"

namespace kvlink::testing {

namespace {

// Uniform in [-amplitude, amplitude] from the top 53 bits of the generator: the same numbers on
// every platform, unlike std::uniform_real_distribution.
float uniform(std::mt19937_64& rng, double amplitude) {
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;  // [0, 1)
  return static_cast<float>((2.0 * u - 1.0) * amplitude);
}

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// GPT-2's byte-level alphabet: printable Latin-1 bytes stand for themselves, the other 68 bytes are
// moved to code points 256.. in byte order (so the space byte 0x20 becomes U+0120 'Ġ').
std::vector<std::string> byte_alphabet() {
  std::vector<std::string> out(256);
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    out[b] = utf8(printable ? b : next++);
  }
  return out;
}

struct Vocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<std::string> merges;
};

Vocab tiny_vocab() {
  Vocab v;
  v.tokens = byte_alphabet();
  v.types.assign(256, 1);  // NORMAL
  const std::string sp = utf8(0x120);
  v.merges = {sp + " t", "h e", "i n", sp + "t he"};
  for (const std::string& m : v.merges) {
    const size_t space = m.find(' ');
    v.tokens.push_back(m.substr(0, space) + m.substr(space + 1));
    v.types.push_back(1);
  }
  for (const char* special : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) {
    v.tokens.push_back(special);
    v.types.push_back(3);  // CONTROL
  }
  return v;
}

class WeightMaker {
 public:
  explicit WeightMaker(const TinyModelSpec& spec) : spec_(spec), rng_(spec.seed) {}

  // Random values uniform in [center - amplitude, center + amplitude], stored as `type`.
  void add(const std::string& name, DType type, std::vector<int64_t> ne, double center, double amplitude) {
    if (name == spec_.omit_tensor) return;
    if (name == spec_.misshape_tensor) ne.back() += 1;
    int64_t n = 1;
    for (int64_t d : ne) n *= d;
    std::vector<float> raw(static_cast<size_t>(n));
    for (float& x : raw) x = static_cast<float>(center) + uniform(rng_, amplitude);
    push(name, type, ne, std::move(raw));
  }

  void add_values(const std::string& name, std::vector<int64_t> ne, std::vector<float> raw) {
    if (name == spec_.omit_tensor) return;
    if (name == spec_.misshape_tensor) {
      raw.resize(raw.size() + raw.size() / static_cast<size_t>(ne.back()), 1.0f);
      ne.back() += 1;
    }
    push(name, DType::F32, ne, std::move(raw));
  }

  std::vector<TinyTensor>& tensors() { return tensors_; }

 private:
  void push(const std::string& name, DType type, const std::vector<int64_t>& ne, std::vector<float> raw) {
    tensors_.push_back(make_tiny_tensor(name, type, ne, raw));
  }

  const TinyModelSpec& spec_;
  std::mt19937_64 rng_;
  std::vector<TinyTensor> tensors_;
};

}  // namespace

std::vector<TinyTensor> make_tiny_weights(const TinyModelSpec& spec) {
  const int64_t n_embd = spec.n_embd;
  const int64_t head_dim = spec.n_embd / spec.n_head;
  const int64_t q_width = head_dim * spec.n_head;
  const int64_t kv_width = head_dim * spec.n_head_kv;
  const DType wt = spec.weight_type;
  WeightMaker m(spec);
  // Amplitudes: embeddings O(1) and norm weights near 1 keep the residual stream O(1); Q/K at 0.25
  // give attention scores of order 1 (peaked enough that a position or mask bug moves the logits);
  // the other projections at 0.1-0.15 keep each block's update smaller than the residual.
  m.add("token_embd.weight", wt, {n_embd, kTinyVocab}, 0.0, 1.0);
  if (spec.quiet_specials && spec.tied && m.tensors().back().name == "token_embd.weight") {
    // Zero rows quantise to exact zeros in every block format, so edit the stored tensor directly.
    TinyTensor& e = m.tensors().back();
    const size_t rb = row_bytes(e.type, n_embd);
    for (int id = kTinyEndOfText; id < kTinyVocab; ++id) {
      std::vector<float> zero(static_cast<size_t>(n_embd), 0.0f);
      quantize_row(e.type, zero.data(), e.data.data() + rb * static_cast<size_t>(id), n_embd);
      std::fill(e.values.begin() + id * n_embd, e.values.begin() + (id + 1) * n_embd, 0.0f);
    }
  }
  m.add("output_norm.weight", DType::F32, {n_embd}, 1.0, 0.2);
  if (!spec.tied) {
    m.add("output.weight", wt, {n_embd, kTinyVocab}, 0.0, 0.15);
    if (spec.quiet_specials && m.tensors().back().name == "output.weight") {
      TinyTensor& o = m.tensors().back();
      const size_t rb = row_bytes(o.type, n_embd);
      std::vector<float> zero(static_cast<size_t>(n_embd), 0.0f);
      for (int id = kTinyEndOfText; id < kTinyVocab && id < o.ne.back(); ++id) {
        quantize_row(o.type, zero.data(), o.data.data() + rb * static_cast<size_t>(id), n_embd);
        std::fill(o.values.begin() + id * n_embd, o.values.begin() + (id + 1) * n_embd, 0.0f);
      }
    }
  }
  if (spec.llama3_rope_freqs) {
    // Llama-3 style divisors: 1 for the fastest-rotating pairs, growing to 8 for the slowest.
    const int64_t half = head_dim / 2;
    std::vector<float> f(static_cast<size_t>(half));
    for (int64_t i = 0; i < half; ++i) f[static_cast<size_t>(i)] = 1.0f + 7.0f * static_cast<float>(i) / static_cast<float>(half - 1);
    m.add_values("rope_freqs.weight", {half}, f);
  }
  const bool bias = spec.arch == "qwen2";
  for (int l = 0; l < spec.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    m.add(p + "attn_norm.weight", DType::F32, {n_embd}, 1.0, 0.2);
    m.add(p + "attn_q.weight", wt, {n_embd, q_width}, 0.0, 0.25);
    m.add(p + "attn_k.weight", wt, {n_embd, kv_width}, 0.0, 0.25);
    m.add(p + "attn_v.weight", wt, {n_embd, kv_width}, 0.0, 0.15);
    if (bias) {
      m.add(p + "attn_q.bias", DType::F32, {q_width}, 0.0, 0.3);
      m.add(p + "attn_k.bias", DType::F32, {kv_width}, 0.0, 0.3);
      m.add(p + "attn_v.bias", DType::F32, {kv_width}, 0.0, 0.3);
    }
    m.add(p + "attn_output.weight", wt, {q_width, n_embd}, 0.0, 0.15);
    m.add(p + "ffn_norm.weight", DType::F32, {n_embd}, 1.0, 0.2);
    m.add(p + "ffn_gate.weight", wt, {n_embd, spec.n_ff}, 0.0, 0.15);
    m.add(p + "ffn_up.weight", wt, {n_embd, spec.n_ff}, 0.0, 0.15);
    m.add(p + "ffn_down.weight", wt, {spec.n_ff, n_embd}, 0.0, 0.15);
  }
  return std::move(m.tensors());
}

std::string write_tiny_model(const TinyModelSpec& spec, const std::string& path) {
  return write_tiny_model(spec, make_tiny_weights(spec), path);
}

TinyTensor make_tiny_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne, const std::vector<float>& raw) {
  TinyTensor t;
  t.name = name;
  t.type = type;
  t.ne = ne;
  const int64_t row = ne[0];
  const int64_t n_rows = static_cast<int64_t>(raw.size()) / row;
  const size_t rb = row_bytes(type, row);
  t.data.resize(rb * static_cast<size_t>(n_rows));
  t.values.resize(raw.size());
  for (int64_t r = 0; r < n_rows; ++r) {
    uint8_t* dst = t.data.data() + rb * static_cast<size_t>(r);
    quantize_row(type, raw.data() + r * row, dst, row);
    ref::dequantize_row(type, dst, t.values.data() + r * row, row);
  }
  return t;
}

std::string write_tiny_model(const TinyModelSpec& spec, const std::vector<TinyTensor>& weights, const std::string& path) {
  GGUFWriter w;
  const std::string a = spec.arch + ".";
  w.set_string("general.architecture", spec.arch);
  w.set_string("general.name", "kvlink tiny random " + spec.arch);
  w.set_u32(a + "block_count", static_cast<uint32_t>(spec.n_layer));
  w.set_u32(a + "context_length", static_cast<uint32_t>(spec.n_ctx_train));
  w.set_u32(a + "embedding_length", static_cast<uint32_t>(spec.n_embd));
  w.set_u32(a + "feed_forward_length", static_cast<uint32_t>(spec.n_ff));
  w.set_u32(a + "attention.head_count", static_cast<uint32_t>(spec.n_head));
  w.set_u32(a + "attention.head_count_kv", static_cast<uint32_t>(spec.n_head_kv));
  w.set_f32(a + "attention.layer_norm_rms_epsilon", spec.rms_eps);
  w.set_f32(a + "rope.freq_base", spec.rope_freq_base);
  w.set_u32(a + "rope.dimension_count", static_cast<uint32_t>(spec.n_embd / spec.n_head));

  const Vocab v = tiny_vocab();
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", "default");
  w.set_string_array("tokenizer.ggml.tokens", v.tokens);
  w.set_i32_array("tokenizer.ggml.token_type", v.types);
  w.set_string_array("tokenizer.ggml.merges", v.merges);
  w.set_u32("tokenizer.ggml.bos_token_id", kTinyEndOfText);
  w.set_u32("tokenizer.ggml.eos_token_id", kTinyImEnd);
  w.set_u32("tokenizer.ggml.padding_token_id", kTinyEndOfText);
  w.set_bool("tokenizer.ggml.add_bos_token", false);
  w.set_string("tokenizer.chat_template",
               "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
               "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
               "{% endif %}");

  if (spec.link_per_doc > 0) {
    w.set_u32("kvlink.version", 1);
    w.set_u32("kvlink.link_tokens_per_doc", static_cast<uint32_t>(spec.link_per_doc));
    w.set_u32("kvlink.max_docs", static_cast<uint32_t>(spec.link_max_docs));
    w.set_i32_array("kvlink.link_token_ids", spec.link_ids);
  }
  for (const TinyTensor& t : weights) w.add_tensor(t.name, t.type, t.ne, t.data.data(), t.data.size());
  w.write(path);
  return path;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("kvlink-" + std::to_string(getpid()) + "-" + name)).string();
}

}  // namespace kvlink::testing
