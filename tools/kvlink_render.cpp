// kvlink-render: turns training examples (the JSONL formats of docs/DATA.md) into token ids through
// the very prompt code kvlink-query uses (kvlink/prompt), so the fine-tuning pipeline trains on the
// exact layout the engine builds at query time. One JSON line per example:
//   QA / multi-document:  {"id", "kind": "qa", "opening", "chunks": [[..], ..], "suffix", "answer"}
//   chat:                 {"id", "kind": "chat", "segments": [{"tokens", "loss"}, ..]}
//   chat as documents:    a QA line (--as-documents N): the user message's last paragraph is the
//                         question, the text before it is split into chunks of at most N tokens
//   plain text:           {"id", "kind": "text", "tokens"}
// Link tokens are not included: the trainer places them after each chunk. The first line is a header
// with the model's fingerprint and vocabulary size. Bad lines are skipped and counted by reason.
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "kvlink/cache/chunker.h"
#include "kvlink/eval/eval.h"
#include "kvlink/reuse/prompt.h"
#include "model/file_io.h"
#include "model/fingerprint.h"
#include "model/llama_model.h"
#include "tensor/error.h"

#include "tools/cli.h"

namespace {

using nlohmann::json;

// Training targets in the T0 data end with the base model's end-of-text marker; the chat template's
// end of turn replaces it.
std::string strip_end_marker(std::string s) {
  const std::string marker = "<|endoftext|>";
  while (s.size() >= marker.size() && s.compare(s.size() - marker.size(), marker.size(), marker) == 0) {
    s.resize(s.size() - marker.size());
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.pop_back();
  return s;
}

// The answer tokens: the text, then the end of the assistant turn (where generation stops).
std::vector<kvlink::TokenId> answer_tokens(const kvlink::Model& model, const std::string& answer) {
  std::vector<kvlink::TokenId> ids = model.tokenizer.encode(strip_end_marker(answer), false, false);
  const std::vector<kvlink::TokenId> end = model.tokenizer.encode(model.chat.message_end(), false, true);
  ids.insert(ids.end(), end.begin(), end.end());
  return ids;
}

json qa_line(const kvlink::Model& model, const std::string& id, const std::vector<kvlink::ChunkText>& docs,
             const std::string& question, const std::string& answer) {
  const kvlink::PromptLayout layout = kvlink::build_prompt_layout(model, docs, question, kvlink::PromptOptions{});
  return json{{"id", id},          {"kind", "qa"},           {"opening", layout.opening},
              {"chunks", layout.chunks}, {"suffix", layout.suffix}, {"answer", answer_tokens(model, answer)}};
}

json chat_line(const kvlink::Model& model, const std::string& id, const json& messages) {
  const kvlink::ChatTemplate& chat = model.chat;
  json segments = json::array();
  bool has_system = false;
  for (const json& m : messages) has_system |= m.at("role").get<std::string>() == "system";
  std::string start = chat.bos_text;
  if (!has_system && !chat.default_system_prompt.empty()) {
    start += chat.message_start("system") + chat.default_system_prompt + chat.message_end();
  }
  if (!start.empty()) {
    segments.push_back({{"tokens", model.tokenizer.encode(start, chat.bos_text.empty(), true)}, {"loss", false}});
  }
  bool any_loss = false;
  for (const json& m : messages) {
    const std::string role = m.at("role").get<std::string>();
    const std::string content = m.at("content").get<std::string>();
    if (role != "user" && role != "assistant" && role != "system") throw kvlink::Error("unknown role '" + role + "'");
    // Each turn is tokenised on its own; the special tokens at its edges keep BPE from merging across.
    const auto head = model.tokenizer.encode(chat.message_start(role), false, true);
    segments.push_back({{"tokens", head}, {"loss", false}});
    if (role == "assistant") {
      segments.push_back({{"tokens", answer_tokens(model, content)}, {"loss", true}});  // ends with message_end()
      any_loss = true;
    } else {
      auto body = model.tokenizer.encode(content, false, false);
      const auto end = model.tokenizer.encode(chat.message_end(), false, true);
      body.insert(body.end(), end.begin(), end.end());
      segments.push_back({{"tokens", body}, {"loss", false}});
    }
  }
  if (!any_loss) throw kvlink::Error("no assistant turn");
  return json{{"id", id}, {"kind", "chat"}, {"segments", segments}};
}

// A one-turn chat whose user message holds an article and ends with an instruction paragraph.
json chat_as_documents(const kvlink::Model& model, const std::string& id, const json& messages, int32_t chunk_tokens) {
  if (messages.size() != 2 || messages[0].at("role") != "user" || messages[1].at("role") != "assistant") {
    throw kvlink::Error("not a single user/assistant exchange");
  }
  std::string user = kvlink::normalize_line_endings(messages[0].at("content").get<std::string>());
  while (!user.empty() && (user.back() == '\n' || user.back() == ' ')) user.pop_back();
  // The instruction is the last paragraph, or the last line when the message has no blank line.
  size_t cut = user.rfind("\n\n");
  size_t skip = 2;
  if (cut == std::string::npos) {
    cut = user.rfind('\n');
    skip = 1;
  }
  if (cut == std::string::npos) throw kvlink::Error("no instruction line");
  const std::string question = user.substr(cut + skip);
  std::vector<kvlink::ChunkText> docs;
  for (const kvlink::Chunk& c : kvlink::chunk_document(model.tokenizer, user.substr(0, cut), chunk_tokens)) {
    docs.push_back(kvlink::ChunkText{"", c.text});
  }
  if (docs.empty()) throw kvlink::Error("empty article");
  return qa_line(model, id, docs, question, messages[1].at("content").get<std::string>());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kvlink-render: training examples (JSONL) to token ids in the KVLink prompt layout"};
  std::string model_path, data_path, out_path;
  int32_t as_documents = 0;
  long limit = 0;
  app.add_option("-m,--model", model_path, "GGUF model file")->required();
  app.add_option("--data", data_path, "examples, JSON lines (format: docs/DATA.md)")->required();
  app.add_option("--out", out_path, "output JSON lines (written to a temporary file, then renamed)")->required();
  app.add_option("--as-documents", as_documents,
                 "render one-turn chats as documents of at most N tokens + the last paragraph as question")
      ->check(CLI::Range(16, 4096));
  app.add_option("--limit", limit, "read only the first N lines (0: all)")->capture_default_str()->check(CLI::NonNegativeNumber);
  if (const auto status = kvlink_tools::parse_flags(app, argc, argv, "kvlink-render")) return *status;
  const std::string tmp = out_path + ".tmp";
  try {
    const auto model = kvlink::Model::load(model_path);
    if (!model->has_chat_template) throw kvlink::Error(model_path + ": the model has no supported chat template");
    std::istringstream in(kvlink::read_regular_file(data_path, "data file"));
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) throw kvlink::Error("cannot write " + tmp);
    out << json{{"header", true},
                {"model_fingerprint", kvlink::hex64(model->fingerprint())},
                {"n_vocab", model->hp.n_vocab},
                {"source", data_path}}
               .dump()
        << '\n';
    std::map<std::string, long> skipped;
    long n_in = 0, n_out = 0;
    for (std::string line; std::getline(in, line);) {
      if (limit > 0 && n_in >= limit) break;
      ++n_in;
      try {
        const json j = json::parse(line);
        const std::string id = j.at("id").get<std::string>();
        json r;
        if (j.contains("documents")) {
          // The evaluation's own parser: the same fields, checks and skip reasons.
          std::string parsed_id, reason;
          const std::optional<kvlink::EvalExample> ex = kvlink::parse_eval_line(line, &parsed_id, &reason);
          if (!ex) throw kvlink::Error(reason);
          r = qa_line(*model, id, ex->documents, ex->question, ex->answers[0]);
        } else if (j.contains("messages")) {
          r = as_documents > 0 ? chat_as_documents(*model, id, j.at("messages"), as_documents)
                               : chat_line(*model, id, j.at("messages"));
        } else if (j.contains("text")) {
          r = json{{"id", id}, {"kind", "text"},
                   {"tokens", model->tokenizer.encode(j.at("text").get<std::string>(), false, false)}};
        } else {
          throw kvlink::Error("neither documents, messages nor text");
        }
        out << r.dump() << '\n';
        ++n_out;
      } catch (const std::exception& e) {
        ++skipped[e.what()];
      }
    }
    out.close();
    if (!out) throw kvlink::Error("write failed: " + tmp);
    if (std::rename(tmp.c_str(), out_path.c_str()) != 0) throw kvlink::Error("cannot rename " + tmp);
    std::printf("kvlink-render: %ld of %ld examples rendered to %s", n_out, n_in, out_path.c_str());
    for (const auto& [why, n] : skipped) std::printf("; skipped %ld (%s)", n, why.c_str());
    std::printf("\n");
    return 0;
  } catch (const std::exception& e) {
    std::remove(tmp.c_str());  // never a half-written output
    std::fprintf(stderr, "kvlink-render: error: %s\n", e.what());
    return 1;
  }
}
