// The GGUF reader and the model loader (metadata, tensor table, hyper-parameters, tokenizer, chat
// template) on mutated model files; seed: a complete tiny model.
#include <cstdio>

#include "fuzz/fuzz_target.h"
#include "model/llama_model.h"
#include "support/support.h"
#include "support/tiny_model.h"
#include "tensor/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = kvlink::fuzz::as_file(data, size, ".gguf");
  try {
    kvlink::Model::load(path);
  } catch (const kvlink::Error&) {
  }
  return 0;
}

namespace kvlink::fuzz {
std::vector<std::string> seeds() {
  kvlink::testing::TinyModelSpec spec;
  spec.n_layer = 1;
  spec.n_embd = 32;
  spec.n_ff = 64;
  const std::string path = kvlink::testing::temp_path("fuzz-seed.gguf");
  kvlink::testing::write_tiny_model(spec, path);
  std::vector<std::string> out{kvlink::testing::read_text_file(path)};
  spec.arch = "qwen2";
  spec.weight_type = DType::Q8_0;
  kvlink::testing::write_tiny_model(spec, path);
  out.push_back(kvlink::testing::read_text_file(path));
  std::remove(path.c_str());
  return out;
}
}  // namespace kvlink::fuzz
