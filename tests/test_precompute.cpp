// kvlink-precompute's library side on a tiny random model (issue "KVLink reuse", equivalence tests
// (d) and (e)): a second run over unchanged documents encodes and writes nothing; corrupted,
// truncated and mismatched cache files are rejected and recomputed, never used; changed, deleted and
// non-document files are reflected in the manifest.
#include <gtest/gtest.h>

#include <cmath>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <map>
#include <set>

#include "kvlink/cache/cache_store.h"
#include "kvlink/cache/chunk_encoder.h"
#include "kvlink/cache/manifest.h"
#include "kvlink/cache/precompute.h"
#include "model/fingerprint.h"
#include "support/tiny_model.h"
#include "tensor/error.h"
#include "tensor/quant.h"

using namespace kvlink;
namespace fs = std::filesystem;

namespace {

void write_text(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// A documents folder, a cache folder and a tiny model, removed afterwards.
class Precompute : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(kvlink::testing::temp_path("precompute-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name())));
    fs::remove_all(root_);
    docs_ = root_ / "docs";
    cache_ = root_ / "cache";
    model_path_ = (root_ / "tiny.gguf").string();
    fs::create_directories(root_);
    kvlink::testing::write_tiny_model(kvlink::testing::TinyModelSpec{}, model_path_);
    model_ = Model::load(model_path_);
    write_text(docs_ / "a.md", "# Alpha\n\nThe first paragraph of alpha.\n\nA second paragraph, somewhat longer than the first one.\n");
    write_text(docs_ / "sub" / "b.txt", "Bravo text in a sub-folder. It has two sentences.\n");
    write_text(docs_ / "c.txt", "Charlie is short.\n");
    write_text(docs_ / "image.png", "not a document");
    write_text(docs_ / ".hidden" / "d.txt", "hidden folders are passed over");
  }
  void TearDown() override { fs::remove_all(root_); }

  PrecomputeSummary run(std::vector<std::string>* notes = nullptr, bool prune = false) {
    PrecomputeOptions o;
    o.docs_dir = docs_.string();
    o.cache_dir = cache_.string();
    o.chunk_tokens = 48;
    o.n_threads = 2;
    o.prune = prune;
    PrecomputeCallbacks cb;
    cb.note = [notes](const std::string& n) {
      if (notes) notes->push_back(n);
    };
    return precompute(*model_, o, cb);
  }

  // Modification times of every file in the cache folder.
  std::map<std::string, fs::file_time_type> cache_times() const {
    std::map<std::string, fs::file_time_type> t;
    for (const auto& e : fs::directory_iterator(cache_)) t[e.path().filename().string()] = e.last_write_time();
    return t;
  }

  std::vector<fs::path> cache_files() const {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(cache_)) {
      if (e.path().extension() == ".kvc") out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  fs::path root_, docs_, cache_;
  std::string model_path_;
  std::unique_ptr<Model> model_;
};

TEST_F(Precompute, FirstRunEncodesEveryChunkAndWritesTheManifest) {
  std::vector<std::string> notes;
  const PrecomputeSummary s = run(&notes);
  EXPECT_EQ(s.files, 3);
  EXPECT_EQ(s.files_skipped, 1);  // image.png; .hidden is passed over silently
  EXPECT_GE(s.chunks, 4);         // a.md needs two chunks of 48 tokens
  EXPECT_EQ(s.chunks_encoded, s.chunks);
  EXPECT_GT(s.bytes_written, 0);
  EXPECT_EQ(cache_files().size(), static_cast<size_t>(s.chunks) + 1);  // and the opening's
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("image.png"), std::string::npos);
  const Manifest m = read_manifest(manifest_path(cache_.string()));
  ASSERT_EQ(m.documents.size(), 3u);
  EXPECT_EQ(m.documents[0].path, "a.md");
  EXPECT_EQ(m.documents[0].title, "Alpha");  // from the "# " heading
  EXPECT_EQ(m.documents[2].path, "sub/b.txt");
  EXPECT_EQ(m.documents[2].title, "b");
  for (const auto& d : m.documents) {
    for (const auto& c : d.chunks) EXPECT_LE(c.n_tokens, 48);
  }
}

TEST_F(Precompute, SecondRunWritesNothing) {
  run();
  const auto before = cache_times();
  const PrecomputeSummary s = run();
  EXPECT_EQ(s.chunks_encoded, 0);
  EXPECT_EQ(s.chunks_rejected, 0);
  EXPECT_EQ(s.files_changed, 0);
  EXPECT_EQ(s.bytes_written, 0);
  EXPECT_EQ(cache_times(), before);  // not one file touched, the manifest included
}

TEST_F(Precompute, CorruptTruncatedAndMismatchedCachesAreRejectedAndRecomputed) {
  run();
  std::vector<fs::path> files;  // the first three chunks' caches
  const CacheStore store(*model_, cache_.string(), DType::F16, 1);
  for (const auto& d : read_manifest(manifest_path(cache_.string())).documents) {
    for (const auto& c : d.chunks) files.push_back(store.path_of(c.key));
  }
  ASSERT_GE(files.size(), 3u);
  // 1. a flipped byte in the data: the checksum catches it.
  {
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(fs::file_size(files[0]) / 2));
    char c = 0;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(fs::file_size(files[0]) / 2));
    c = static_cast<char>(c ^ 0x5a);
    f.write(&c, 1);
  }
  // 2. truncated.
  fs::resize_file(files[1], fs::file_size(files[1]) - 100);
  // 3. a valid cache made by another model, under this chunk's name.
  kvlink::testing::TinyModelSpec other;
  other.seed = 7;
  const std::string other_path = (root_ / "other.gguf").string();
  kvlink::testing::write_tiny_model(other, other_path);
  const auto other_model = Model::load(other_path);
  const ChunkCacheFile original = ChunkCacheFile::open(files[2].string(), store.fingerprint(), cache_geometry(*model_));
  const std::vector<TokenId> tokens = original.tokens();
  write_chunk_cache(files[2].string(), model_fingerprint(other_model->file), cache_geometry(*other_model), DType::F16,
                    encode_chunk(*other_model, tokens, 1));

  std::vector<std::string> notes;
  const PrecomputeSummary s = run(&notes);
  EXPECT_EQ(s.chunks_rejected, 3);
  EXPECT_EQ(s.chunks_encoded, 3);
  std::string all;
  for (const auto& n : notes) all += n + "\n";
  EXPECT_NE(all.find("checksum mismatch"), std::string::npos) << all;
  EXPECT_NE(all.find("truncated"), std::string::npos) << all;
  EXPECT_NE(all.find("different model"), std::string::npos) << all;
  // Every file is valid again, and a third run finds nothing to do.
  for (const auto& f : cache_files()) {
    EXPECT_NO_THROW(ChunkCacheFile::open(f.string(), store.fingerprint(), cache_geometry(*model_))) << f;
  }
  EXPECT_EQ(run().chunks_encoded, 0);
}

TEST_F(Precompute, CachesEncodedWithOtherProductsAreNeitherSharedNorValid) {
  run();  // the default products
  CacheStore int16(*model_, cache_.string(), DType::F16, 1);
  ASSERT_EQ(model_->products, kvlink::kDefaultProducts);
  EXPECT_NE(int16.fingerprint(), model_fingerprint(model_->file));
  model_->products = Products::F32;  // the reference arithmetic keeps the model's own fingerprint
  CacheStore f32(*model_, cache_.string(), DType::F16, 1);
  EXPECT_EQ(f32.fingerprint(), model_fingerprint(model_->file));
  model_->products = Products::INT8;
  EXPECT_NE(CacheStore(*model_, cache_.string(), DType::F16, 1).fingerprint(), int16.fingerprint());
  model_->products = Products::F32;
  const std::vector<TokenId> tokens = {5, 6, 7, 8, 9, 10, 11, 12, 13};
  EXPECT_NE(f32.key(tokens), int16.key(tokens));
  for (const auto& d : read_manifest(manifest_path(cache_.string())).documents) {
    for (const auto& c : d.chunks) {
      EXPECT_THROW(ChunkCacheFile::open(int16.path_of(c.key), f32.fingerprint(), cache_geometry(*model_)), Error);
    }
  }
  // A store made for the default products refuses to encode once the model's products changed.
  EXPECT_THROW(int16.get(tokens), Error);
  EXPECT_NO_THROW(f32.get(tokens));
  model_->products = kvlink::kDefaultProducts;
}

TEST_F(Precompute, QueryLookupRejectsABadCacheAndRecomputesIt) {
  run();
  CacheStore store(*model_, cache_.string(), DType::F16, 1);
  const Manifest m = read_manifest(manifest_path(cache_.string()));
  const fs::path victim = store.path_of(m.documents[1].chunks[0].key);
  const ChunkCacheFile good = ChunkCacheFile::open(victim.string(), store.fingerprint(), cache_geometry(*model_));
  const std::vector<TokenId> tokens = good.tokens();
  fs::resize_file(victim, 64);
  const auto file = store.get(tokens);
  EXPECT_EQ(store.stats().rejected, 1);
  EXPECT_EQ(store.stats().encoded, 1);
  EXPECT_EQ(file->tokens(), tokens);
}

// The Q8_0 and Q4_0 caches of a chunk whose F16 cache exists are quantised from its rows, without a
// forward pass: every value within one quantisation step of the cache quantised from the encoder's
// F32 output, and the RMS error against that output within 5 % of that cache's. A corrupt F16
// sibling is no source.
TEST_F(Precompute, QuantisedCachesAreDerivedFromTheF16Cache) {
  run();
  const Manifest m = read_manifest(manifest_path(cache_.string()));
  CacheStore f16(*model_, cache_.string(), DType::F16, 1);
  const std::vector<TokenId> tokens =
      ChunkCacheFile::open(f16.path_of(m.documents[0].chunks[0].key), f16.fingerprint(), cache_geometry(*model_)).tokens();
  const ChunkKV truth = encode_chunk(*model_, tokens, 1);
  const int64_t width = cache_geometry(*model_).width();
  for (DType type : {DType::Q8_0, DType::Q4_0}) {
    CacheStore derived_store(*model_, cache_.string(), type, 1);
    const auto derived = derived_store.get(tokens);
    EXPECT_EQ(derived_store.stats().derived, 1);
    EXPECT_EQ(derived_store.stats().encoded, 0);
    CacheStore fresh_store(*model_, (root_ / ("fresh-" + std::to_string(static_cast<int>(type)))).string(), type, 1);
    const auto fresh = fresh_store.get(tokens);
    EXPECT_EQ(fresh_store.stats().encoded, 1);
    ASSERT_EQ(derived->n_tokens(), fresh->n_tokens());
    double se_derived = 0, se_fresh = 0;
    std::vector<float> a(static_cast<size_t>(width)), b(static_cast<size_t>(width));
    for (int32_t l = 0; l < model_->hp.n_layer; ++l) {
      for (const bool keys : {true, false}) {
        const uint8_t* da = keys ? derived->k_rows(l) : derived->v_rows(l);
        const uint8_t* fa = keys ? fresh->k_rows(l) : fresh->v_rows(l);
        const std::vector<float>& t_rows = keys ? truth.k[static_cast<size_t>(l)] : truth.v[static_cast<size_t>(l)];
        for (int32_t t = 0; t < derived->n_tokens(); ++t) {
          dequantize_row(type, da + t * derived->row_bytes(), a.data(), width);
          dequantize_row(type, fa + t * fresh->row_bytes(), b.data(), width);
          const float* x = t_rows.data() + t * width;
          for (int64_t j0 = 0; j0 < width; j0 += 32) {  // the step of a block: max |x| / 127 (Q8_0), / 8 (Q4_0)
            float amax = 0;
            for (int64_t j = j0; j < j0 + 32; ++j) amax = std::max(amax, std::fabs(x[j]));
            const float step = amax / (type == DType::Q8_0 ? 127.0f : 8.0f);
            for (int64_t j = j0; j < j0 + 32; ++j) {
              const float ed = std::fabs(a[static_cast<size_t>(j)] - x[j]);
              const float ef = std::fabs(b[static_cast<size_t>(j)] - x[j]);
              EXPECT_LE(std::fabs(a[static_cast<size_t>(j)] - b[static_cast<size_t>(j)]), 1.01f * step + 1e-6f)
                  << "layer " << l << " row " << t << " element " << j;
              se_derived += static_cast<double>(ed) * ed;
              se_fresh += static_cast<double>(ef) * ef;
            }
          }
        }
      }
    }
    EXPECT_GT(se_fresh, 0.0);
    EXPECT_LE(std::sqrt(se_derived), 1.05 * std::sqrt(se_fresh)) << "type " << static_cast<int>(type);
  }
  // A corrupt F16 cache is not a source: the chunk is encoded.
  const fs::path f16_path = f16.path_of(f16.key(tokens));
  fs::resize_file(f16_path, 64);
  fs::remove(CacheStore(*model_, cache_.string(), DType::Q8_0, 1).path_of(f16.key(tokens)));
  CacheStore again(*model_, cache_.string(), DType::Q8_0, 1);
  again.get(tokens);
  EXPECT_EQ(again.stats().derived, 0);
  EXPECT_EQ(again.stats().encoded, 1);
}

std::set<std::string> manifest_keys(const Manifest& m) {
  std::set<std::string> keys;
  for (const auto& d : m.documents) {
    for (const auto& c : d.chunks) keys.insert(c.key);
  }
  return keys;
}

TEST_F(Precompute, ChangedDeletedAndNewFilesAreReflected) {
  run();
  const std::set<std::string> before = manifest_keys(read_manifest(manifest_path(cache_.string())));
  write_text(docs_ / "c.txt", "Charlie changed his text entirely.\n");
  fs::remove(docs_ / "sub" / "b.txt");
  write_text(docs_ / "e.md", "Echo is new.\n");
  const PrecomputeSummary s = run(nullptr, /*prune=*/true);
  const Manifest m = read_manifest(manifest_path(cache_.string()));
  const std::set<std::string> after = manifest_keys(m);
  size_t added = 0, gone = 0;
  for (const auto& k : after) added += !before.count(k);
  for (const auto& k : before) gone += !after.count(k);
  EXPECT_EQ(s.files, 3);
  EXPECT_EQ(s.files_changed, 2);  // c.txt changed, e.md new
  EXPECT_EQ(s.files_removed, 1);  // sub/b.txt
  EXPECT_GT(added, 0u);
  EXPECT_EQ(static_cast<size_t>(s.chunks_encoded), added);  // only the new chunks are encoded
  EXPECT_EQ(static_cast<size_t>(s.files_pruned), gone);     // the old c.txt's and b.txt's caches
  std::vector<std::string> paths;
  for (const auto& d : m.documents) paths.push_back(d.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"a.md", "c.txt", "e.md"}));
  EXPECT_EQ(cache_files().size(), after.size() + 1);  // and the opening's, which pruning keeps
}

TEST_F(Precompute, PruneKeepsFilesYoungerThanTheRun) {
  // A cache file no document uses, written while the run goes on (a query encoding on the way; here
  // its time stamp is set after the run's start), is kept; an equally unused older one is pruned.
  run();
  const fs::path young = cache_ / "00000000000000aa.f16.kvc", old = cache_ / "00000000000000bb.f16.kvc";
  fs::copy_file(cache_files().front(), young);
  fs::copy_file(cache_files().front(), old);
  fs::last_write_time(young, fs::file_time_type::clock::now() + std::chrono::minutes(10));
  fs::last_write_time(old, fs::file_time_type::clock::now() - std::chrono::minutes(10));
  const PrecomputeSummary s = run(nullptr, /*prune=*/true);
  EXPECT_EQ(s.files_pruned, 1);
  EXPECT_TRUE(fs::exists(young));
  EXPECT_FALSE(fs::exists(old));
}

TEST_F(Precompute, LinksOutOfTheDocumentsFolderAreSkipped) {
  // A symbolic link to a file outside --docs would put that file's text in the manifest and in
  // prompts: it is skipped with a note. A link to a document inside the folder is a document.
  write_text(root_ / "secret.txt", "A secret kept outside the documents folder.\n");
  fs::create_symlink(root_ / "secret.txt", docs_ / "leak.txt");
  fs::create_symlink(docs_ / "c.txt", docs_ / "alias.txt");
  std::vector<std::string> notes;
  const PrecomputeSummary s = run(&notes);
  const Manifest m = read_manifest(manifest_path(cache_.string()));
  std::vector<std::string> paths;
  for (const auto& d : m.documents) {
    paths.push_back(d.path);
    for (const auto& c : d.chunks) EXPECT_EQ(c.text.find("secret"), std::string::npos);
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"a.md", "alias.txt", "c.txt", "sub/b.txt"}));
  EXPECT_EQ(s.files_skipped, 2);  // image.png and the link out
  EXPECT_NE(std::find(notes.begin(), notes.end(), "skipped leak.txt (a link to outside the documents folder)"), notes.end());
}

TEST_F(Precompute, MissingFolderIsAnError) {
  fs::remove_all(docs_);
  EXPECT_THROW(run(), Error);
}

}  // namespace
