// krpc call on a streaming method: requests as JSON lines in, responses as JSON lines out.
//
//   server streaming   one request (the JSON argument, -d, @FILE or -), then every response
//   client streaming   one request per line (of the argument, the file, or stdin as it is
//   bidi                typed: a line is sent when it is complete), then the responses
//
// The stream goes over the channel's protocol (krpc's stream frames, or gRPC with --protocol
// grpc). It has no deadline (rpc_timeout_ms is for unary calls): it lasts as long as its input.
#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <future>
#include <iostream>
#include <sstream>
#include <thread>

#include "cli.h"
#include "krpc/controller.h"
#include "krpc/json.h"
#include "schema.h"

namespace krpc::cli {
namespace gp = google::protobuf;

namespace {

// Feeds the stream its requests, one JSON object per line, then half-closes it. False (with
// the error printed) for a line that is not a request; the call is then cancelled.
bool WriteLines(ClientStream& stream, const PreparedCall& call, std::istream& in) {
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::unique_ptr<gp::Message> m(call.schema->NewMessage(call.method->input_type()));
    if (auto st = gp::util::JsonStringToMessage(line, m.get()); !st.ok()) {
      std::fprintf(stderr, "krpc call: bad request JSON for %s: %s\n", call.method->input_type()->full_name().c_str(),
                   st.ToString().c_str());
      return false;
    }
    std::promise<bool> written;
    stream.Write(*m, [&written](bool ok) { written.set_value(ok); });
    if (!written.get_future().get()) return true;  // the call ended; Finish tells why
  }
  std::promise<bool> closed;
  stream.WritesDone([&closed](bool ok) { closed.set_value(ok); });
  closed.get_future().wait();
  return true;
}

}  // namespace

int CallStream(const Flags& flags, Channel& channel, PreparedCall& call, const std::string& data) {
  Controller cntl;
  for (const auto& [k, v] : flags.headers) cntl.AddMetadata(k, v);
  // No deadline: a stream lasts as long as its input (rpc_timeout_ms is for unary calls).
  auto stream = channel.OpenStream(call.method, &cntl);

  // The requests, on their own thread: a bidi stream's answers are printed as they come.
  std::atomic<bool> bad_input{false};
  std::thread writer([&] {
    bool ok = true;
    if (!call.method->client_streaming()) {
      std::promise<bool> written;
      stream->Write(*call.request, [&written](bool w) { written.set_value(w); });
      written.get_future().wait();
      std::promise<bool> closed;
      stream->WritesDone([&closed](bool w) { closed.set_value(w); });
      closed.get_future().wait();
    } else if (data == "-") {
      ok = WriteLines(*stream, call, std::cin);
    } else {
      auto text = RequestText(data);
      std::istringstream in(text.ok() ? *text : std::string());
      ok = text.ok() && WriteLines(*stream, call, in);
      if (!text.ok()) std::fprintf(stderr, "krpc call: %s\n", text.status().message().c_str());
    }
    if (!ok) {
      bad_input = true;
      stream->Cancel();
    }
  });

  gp::util::JsonPrintOptions jo;
  jo.always_print_primitive_fields = true;  // one line per message: JSON lines
  for (;;) {
    std::unique_ptr<gp::Message> m(call.schema->NewMessage(call.method->output_type()));
    std::promise<bool> read;
    stream->Read(m.get(), [&read](bool ok) { read.set_value(ok); });
    if (!read.get_future().get()) break;
    std::string out;
    (void)gp::util::MessageToJsonString(*m, &out, jo);
    std::printf("%s\n", out.c_str());
    std::fflush(stdout);
  }
  std::promise<krpc::Status> finished;
  stream->Finish([&finished](const krpc::Status& st) { finished.set_value(st); });
  const krpc::Status st = finished.get_future().get();
  writer.join();
  if (bad_input) return kExitUsage;
  if (flags.format == "text") {
    for (const auto& [k, v] : cntl.response_metadata()) std::fprintf(stderr, "< %s: %s\n", k.c_str(), v.c_str());
  }
  if (!st.ok()) {
    if (flags.format == "json") {
      std::printf("{\"code\":\"%s\",\"message\":%s}\n", std::string(StatusCodeName(st.code())).c_str(),
                  json::Quote(st.message()).c_str());
    }
    std::fprintf(stderr, "%s%s%s\n", st.ToString().c_str(), cntl.remote().empty() ? "" : " (from ",
                 cntl.remote().empty() ? "" : (cntl.remote() + ")").c_str());
    return ExitFor(st.code());
  }
  return 0;
}

}  // namespace krpc::cli
