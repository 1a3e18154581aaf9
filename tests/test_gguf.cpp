// The GGUF reader and writer: round trips of every metadata type and of tensors, and malformed files
// (every truncation, bad magic/version, oversized counts and lengths, bad dimensions, unknown tensor
// types, misaligned or out-of-file data, duplicates) each rejected with a one-line kvlink::Error,
// never a crash (this suite also runs under ASan/UBSan).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "model/gguf.h"
#include "support/support.h"
#include "tensor/error.h"

using namespace kvlink;
namespace fs = std::filesystem;

namespace {

std::string temp_file(const std::string& name) {
  return (fs::temp_directory_path() / ("kvlink-gguf-" + std::to_string(::getpid()) + "-" + name)).string();
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// The message of the Error that opening `bytes` as a GGUF raises ("" when it parses).
std::string open_error(const std::vector<uint8_t>& bytes) {
  const std::string path = temp_file("case.gguf");
  write_bytes(path, bytes);
  try {
    GGUFFile::open(path);
  } catch (const Error& e) {
    fs::remove(path);
    return e.what();
  }
  fs::remove(path);
  return "";
}

GGUFWriter small_writer() {
  GGUFWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 2);
  w.set_string_array("tokenizer.ggml.tokens", {"a", "b", "c"});
  const std::vector<float> t(64, 1.5f);
  w.add_tensor("t0", DType::F32, {16, 4}, t.data(), t.size() * 4);
  std::vector<uint8_t> q(row_bytes(DType::Q8_0, 64) * 2, 7);
  w.add_tensor("t1", DType::Q8_0, {64, 2}, q.data(), q.size());
  return w;
}

// Byte offset of the first occurrence of `needle` in `bytes`.
size_t find(const std::vector<uint8_t>& bytes, const std::string& needle) {
  auto it = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
  EXPECT_NE(it, bytes.end()) << needle;
  return static_cast<size_t>(it - bytes.begin());
}

void put_u64(std::vector<uint8_t>& b, size_t at, uint64_t v) { std::memcpy(b.data() + at, &v, 8); }
void put_u32(std::vector<uint8_t>& b, size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); }

TEST(Gguf, EveryMetadataTypeRoundTrips) {
  GGUFWriter w;
  auto scalar = [](GGUFType t, int64_t i, double f, const std::string& s) {
    GGUFValue v;
    v.type = t;
    v.i = i;
    v.u = static_cast<uint64_t>(i);
    v.f = f;
    v.b = i != 0;
    v.str = s;
    return v;
  };
  w.set("u8", scalar(GGUFType::UINT8, 250, 0, ""));
  w.set("i8", scalar(GGUFType::INT8, -100, 0, ""));
  w.set("u16", scalar(GGUFType::UINT16, 65000, 0, ""));
  w.set("i16", scalar(GGUFType::INT16, -32000, 0, ""));
  w.set("u32", scalar(GGUFType::UINT32, 4000000000LL, 0, ""));
  w.set("i32", scalar(GGUFType::INT32, -2000000000, 0, ""));
  w.set("u64", scalar(GGUFType::UINT64, 1LL << 60, 0, ""));
  w.set("i64", scalar(GGUFType::INT64, -(1LL << 60), 0, ""));
  w.set("f32", scalar(GGUFType::FLOAT32, 0, 1.5, ""));
  w.set("f64", scalar(GGUFType::FLOAT64, 0, 3.141592653589793, ""));
  w.set("bool", scalar(GGUFType::BOOL, 1, 0, ""));
  w.set("str", scalar(GGUFType::STRING, 0, 0, "héllo 世界"));
  w.set("empty", scalar(GGUFType::STRING, 0, 0, ""));
  w.set_string_array("strs", {"a", "", "ç"});
  w.set_i32_array("ints", {1, -2, 3});
  w.set_f32_array("floats", {0.5f, -1.25f});
  w.set_i32_array("no_ints", {});
  GGUFValue nested;
  nested.type = GGUFType::ARRAY;
  nested.elem_type = GGUFType::ARRAY;
  for (int i = 0; i < 2; ++i) {
    GGUFValue inner;
    inner.type = GGUFType::ARRAY;
    inner.elem_type = GGUFType::UINT8;
    inner.ints = {i, i + 1};
    nested.arrays.push_back(inner);
  }
  w.set("nested", nested);
  const std::string path = temp_file("types.gguf");
  w.write(path);
  const GGUFFile f = GGUFFile::open(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.get_int("u8"), 250);
  EXPECT_EQ(f.get_int("i8"), -100);
  EXPECT_EQ(f.get_int("u16"), 65000);
  EXPECT_EQ(f.get_int("i16"), -32000);
  EXPECT_EQ(f.get_int("u32"), 4000000000LL);
  EXPECT_EQ(f.get_int("i32"), -2000000000);
  EXPECT_EQ(f.get_int("u64"), 1LL << 60);
  EXPECT_EQ(f.get_int("i64"), -(1LL << 60));
  EXPECT_EQ(f.get_float("f32"), 1.5);
  EXPECT_EQ(f.get_float("f64"), 3.141592653589793);
  EXPECT_TRUE(f.get_bool("bool"));
  EXPECT_EQ(f.get_string("str"), "héllo 世界");
  EXPECT_EQ(f.get_string("empty"), "");
  EXPECT_EQ(f.get_string_array("strs"), (std::vector<std::string>{"a", "", "ç"}));
  EXPECT_EQ(f.get_int_array("ints"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(f.get_float_array("floats"), (std::vector<double>{0.5, -1.25}));
  EXPECT_TRUE(f.get_int_array("no_ints").empty());
  ASSERT_EQ(f.find("nested")->arrays.size(), 2u);
  EXPECT_EQ(f.find("nested")->arrays[1].ints, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(f.get_int_or("absent", 7), 7);
  EXPECT_THROW(f.get_string("u8"), Error);   // wrong kind
  EXPECT_THROW(f.get_int("absent"), Error);  // missing
  fs::remove(path);
}

TEST(Gguf, TensorsRoundTripAligned) {
  const std::string path = temp_file("tensors.gguf");
  small_writer().write(path);
  const GGUFFile f = GGUFFile::open(path);
  ASSERT_EQ(f.tensors().size(), 2u);
  const GGUFTensorInfo& t0 = f.tensor("t0");
  EXPECT_EQ(t0.ne, (std::vector<int64_t>{16, 4}));
  EXPECT_EQ(t0.n_bytes, 256u);
  EXPECT_EQ(static_cast<size_t>(t0.data - f.file_data()) % f.alignment(), 0u);
  float v;
  std::memcpy(&v, t0.data + 60, 4);
  EXPECT_EQ(v, 1.5f);
  const GGUFTensorInfo& t1 = f.tensor("t1");
  EXPECT_EQ(t1.type, DType::Q8_0);
  EXPECT_EQ(t1.n_bytes, 2 * 2 * 34u);
  EXPECT_EQ(t1.data[t1.n_bytes - 1], 7);
  EXPECT_EQ(f.find_tensor("absent"), nullptr);
  EXPECT_THROW(f.tensor("absent"), Error);
  fs::remove(path);
}

TEST(Gguf, Version2IsAccepted) {
  auto bytes = small_writer().to_bytes();
  put_u32(bytes, 4, 2);
  EXPECT_EQ(open_error(bytes), "");
}

TEST(Gguf, EveryTruncationIsRejected) {
  const auto bytes = small_writer().to_bytes();
  // Only the alignment padding after the last tensor may be cut without losing anything.
  const std::string path = temp_file("full.gguf");
  write_bytes(path, bytes);
  size_t data_end = 0;
  {
    const GGUFFile f = GGUFFile::open(path);
    for (const auto& t : f.tensors()) data_end = std::max(data_end, static_cast<size_t>(t.data - f.file_data()) + t.n_bytes);
  }
  fs::remove(path);
  ASSERT_GT(data_end, 0u);
  for (size_t n = 0; n < data_end; ++n) {
    const std::string err = open_error(std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n)));
    EXPECT_NE(err, "") << "prefix of " << n << " bytes parsed";
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  }
}

TEST(Gguf, MalformedHeadersAreRejectedWithTheirReason) {
  const auto good = small_writer().to_bytes();
  auto with = [&](auto edit) {
    auto b = good;
    edit(b);
    return open_error(b);
  };
  EXPECT_NE(with([](auto& b) { b[0] = 'X'; }).find("bad magic"), std::string::npos);
  EXPECT_NE(with([](auto& b) { put_u32(b, 4, 1); }).find("version 1"), std::string::npos);
  EXPECT_NE(with([](auto& b) { put_u32(b, 4, 99); }).find("version 99"), std::string::npos);
  EXPECT_NE(with([](auto& b) { put_u64(b, 8, 1ULL << 62); }).find("exceed"), std::string::npos);   // tensor count
  EXPECT_NE(with([](auto& b) { put_u64(b, 16, 1ULL << 62); }).find("exceed"), std::string::npos);  // kv count
  // The first key's length (right after the 24-byte header).
  EXPECT_NE(with([](auto& b) { put_u64(b, 24, 1ULL << 40); }).find("truncated"), std::string::npos);
  // The token array's count.
  EXPECT_NE(with([&](auto& b) { put_u64(b, find(good, "tokenizer.ggml.tokens") + 21 + 4, 1ULL << 50); }).find("array count"),
            std::string::npos);
  // Tensor t0's info: name length (8) + "t0" + n_dims (4) + dims (2x8) + type (4) + offset (8).
  const size_t t0 = find(good, std::string("t0\x02\0\0\0", 6)) ;
  EXPECT_NE(with([&](auto& b) { put_u32(b, t0 + 2, 9); }).find("dimensions"), std::string::npos);
  EXPECT_NE(with([&](auto& b) { put_u64(b, t0 + 6, 0); }).find("bad dimension"), std::string::npos);
  EXPECT_NE(with([&](auto& b) { put_u64(b, t0 + 6, 1ULL << 39); put_u64(b, t0 + 14, 1ULL << 39); }).find("bad dimension"),
            std::string::npos);
  EXPECT_NE(with([&](auto& b) { put_u32(b, t0 + 22, 6); }).find("unsupported type id 6"), std::string::npos);
  EXPECT_NE(with([&](auto& b) { put_u64(b, t0 + 26, 3); }).find("not aligned"), std::string::npos);
  EXPECT_NE(with([&](auto& b) { put_u64(b, t0 + 26, 1ULL << 40); }).find("past end of file"), std::string::npos);
}

TEST(Gguf, DuplicateKeysAndTensorsAreRejected) {
  GGUFWriter w;
  w.set_u32("dup_a", 1);
  w.set_u32("dup_b", 2);
  const std::vector<float> t(32, 0.0f);
  w.add_tensor("tensor_a", DType::F32, {32}, t.data(), 128);
  w.add_tensor("tensor_b", DType::F32, {32}, t.data(), 128);
  auto bytes = w.to_bytes();
  auto dup_key = bytes;
  std::memcpy(dup_key.data() + find(bytes, "dup_b"), "dup_a", 5);
  EXPECT_NE(open_error(dup_key).find("duplicate metadata key 'dup_a'"), std::string::npos);
  std::memcpy(bytes.data() + find(bytes, "tensor_b"), "tensor_a", 8);
  EXPECT_NE(open_error(bytes).find("duplicate tensor 'tensor_a'"), std::string::npos);
}

TEST(Gguf, BadAlignmentIsRejected) {
  GGUFWriter w = small_writer();
  w.set_u32("general.alignment", 24);
  EXPECT_NE(open_error(w.to_bytes()).find("alignment"), std::string::npos);
}

TEST(Gguf, RandomByteFlipsParseOrThrow) {
  const auto good = small_writer().to_bytes();
  std::mt19937 rng(7);
  int parsed = 0;
  for (int i = 0; i < 3000; ++i) {
    auto b = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) b[rng() % b.size()] = static_cast<uint8_t>(rng());
    parsed += open_error(b).empty();
  }
  EXPECT_GT(parsed, 0);  // flips inside tensor data or string bytes are harmless
}

TEST(Gguf, MissingFileAndDirectoryAreErrors) {
  EXPECT_THROW(GGUFFile::open("/nonexistent/x.gguf"), Error);
  EXPECT_THROW(GGUFFile::open(fs::temp_directory_path().string()), Error);
  const std::string empty = temp_file("empty.gguf");
  write_bytes(empty, {});
  EXPECT_THROW(GGUFFile::open(empty), Error);
  fs::remove(empty);
}

TEST(Gguf, WriteIsAtomic) {
  const std::string path = temp_file("atomic.gguf");
  small_writer().write(path);
  for (const auto& entry : fs::directory_iterator(fs::path(path).parent_path())) {
    EXPECT_EQ(entry.path().string().find(path + ".tmp"), std::string::npos) << "left a temporary file";
  }
  EXPECT_THROW(small_writer().write("/nonexistent-dir/x.gguf"), Error);
  fs::remove(path);
}

TEST(Gguf, DefaultModelLayout) {
  KVLINK_MODEL_OR_SKIP(path);
  const GGUFFile f = GGUFFile::open(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.tensors().size(), 272u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_int("llama.block_count"), 30);
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens").size(), 49152u);
  const GGUFTensorInfo& emb = f.tensor("token_embd.weight");
  EXPECT_EQ(emb.type, DType::Q8_0);
  EXPECT_EQ(emb.ne, (std::vector<int64_t>{576, 49152}));
  for (const auto& t : f.tensors()) EXPECT_LE(t.data + t.n_bytes, f.file_data() + f.file_size()) << t.name;
}

}  // namespace
