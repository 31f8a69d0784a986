// How long a discovery update takes to reach a channel when a service has many providers
// (issue 17, "scale": 1,000 endpoints, an update applied in under 100 ms). Against a real
// ZooKeeper: writes N provider znodes the way nodes register, opens a zk:// channel, and times
//   - the first resolve of all N (children, N data reads, N subchannels, the picker);
//   - a provider joining (the child watch fires, the list is re-read, one subchannel added);
//   - a provider leaving;
//   - a provider's data changing (its weight: the data watch fires, the list is re-read);
// each from the moment ZooKeeper confirmed the write to the moment the channel's endpoint set
// shows it. Prints one line per measurement and a JSON summary. bench/scale.py runs it.
//   krpc-discovery-bench --zk 127.0.0.1:2181 [--providers 1000] [--rounds 5]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "krpc/channel.h"
#include "krpc/client_runtime.h"
#include "krpc/config.h"
#include "krpc/registry_layout.h"
#include "krpc/zk_client.h"

namespace {

using Clock = std::chrono::steady_clock;
const std::string kService = "bench.Scale";

krpc::Endpoint Provider(int i) { return krpc::Endpoint{"127.0.0.1", static_cast<uint16_t>(20000 + i)}; }

std::string Data(const krpc::Endpoint& e, int weight) {
  krpc::registry::ProviderInfo info;
  info.endpoint = e;
  info.weight = weight;
  info.node_id = "bench-" + e.ToString();
  return info.ToJson();
}

// Polls the channel's endpoint set (1 ms apart: a poll of 1,000 endpoints is not free) until `done` holds; the time it took in ms.
template <typename Pred>
double TimeUntil(const krpc::Channel& ch, Clock::time_point since, Pred done) {
  const auto give_up = Clock::now() + std::chrono::seconds(60);
  while (!done(ch.Endpoints())) {
    if (Clock::now() > give_up) {
      std::fprintf(stderr, "krpc-discovery-bench: the channel did not see the change within 60 s\n");
      std::exit(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string zk_hosts;
  int providers = 1000;
  int rounds = 5;
  krpc::OptionSet flags;
  flags.AddString("zk", &zk_hosts, "ZooKeeper host:port");
  flags.AddInt("providers", &providers, 1, 40000, "providers registered for the service");
  flags.AddInt("rounds", &rounds, 1, 1000, "join, leave and change measurements");
  if (krpc::OptionSet::WantsHelp(argc, argv)) {
    std::printf("usage: krpc-discovery-bench --zk host:port [--providers N] [--rounds R]\n\n%s", flags.Help().c_str());
    return 0;
  }
  if (auto s = flags.Load(argc, argv, {}); !s.ok() || zk_hosts.empty()) {
    std::fprintf(stderr, "krpc-discovery-bench: %s\n%s", s.ok() ? "--zk is required" : s.message().c_str(),
                 flags.Help().c_str());
    return 2;
  }
  const std::string root = "/krpc-discovery-bench-" + std::to_string(::getpid());
  krpc::ZkOptions zo;
  zo.hosts = zk_hosts;
  krpc::ZkClient zk(zo);
  if (auto s = zk.Start(); !s.ok() || !zk.WaitConnected(std::chrono::seconds(30))) {
    std::fprintf(stderr, "krpc-discovery-bench: cannot reach ZooKeeper at %s\n", zk_hosts.c_str());
    return 1;
  }
  const auto check = [](const krpc::Status& s) {
    if (!s.ok()) {
      std::fprintf(stderr, "krpc-discovery-bench: %s\n", s.ToString().c_str());
      std::exit(1);
    }
  };
  check(zk.EnsurePath(krpc::registry::ProvidersPath(root, kService)));
  const auto path = [&](int i) { return krpc::registry::ProviderPath(root, kService, Provider(i)); };
  for (int i = 0; i < providers; ++i) check(zk.Create(path(i), Data(Provider(i), 100), true));

  krpc::ChannelOptions co;
  co.pool.enabled = false;
  auto channel = krpc::Channel::Create("zk://" + zk_hosts + root, co, krpc::ClientRuntime::Create(1));
  if (!channel.ok()) {
    std::fprintf(stderr, "krpc-discovery-bench: %s\n", channel.status().ToString().c_str());
    return 1;
  }
  auto& ch = *channel.value();
  const auto count_is = [](size_t n) { return [n](const std::vector<krpc::EndpointInfo>& e) { return e.size() == n; }; };
  auto t0 = Clock::now();
  (void)ch.WaitForEndpoints(kService, std::chrono::milliseconds(0));  // subscribes the service
  const double first = TimeUntil(ch, t0, count_is(static_cast<size_t>(providers)));
  std::printf("first resolve of %d providers: %.2f ms\n", providers, first);

  std::vector<double> join, leave, change;
  for (int r = 0; r < rounds; ++r) {
    const int extra = providers + r;
    check(zk.Create(path(extra), Data(Provider(extra), 100), true));
    t0 = Clock::now();
    join.push_back(TimeUntil(ch, t0, count_is(static_cast<size_t>(providers) + 1)));
    check(zk.Delete(path(extra)));
    t0 = Clock::now();
    leave.push_back(TimeUntil(ch, t0, count_is(static_cast<size_t>(providers))));
    const int weight = 10 + r;
    const std::string address = Provider(r).ToString();
    check(zk.Delete(path(r)));  // a node re-registering with new data: the data watch's cousin
    check(zk.Create(path(r), Data(Provider(r), weight), true));
    t0 = Clock::now();
    change.push_back(TimeUntil(ch, t0, [&](const std::vector<krpc::EndpointInfo>& eps) {
      return std::any_of(eps.begin(), eps.end(), [&](const auto& e) { return e.address == address && e.weight == weight; }) &&
             eps.size() == static_cast<size_t>(providers);
    }));
    std::printf("round %d: join %.2f ms, leave %.2f ms, re-register %.2f ms\n", r + 1, join.back(), leave.back(),
                change.back());
  }
  std::printf("{\"providers\":%d,\"first_resolve_ms\":%.2f,\"join_ms_median\":%.2f,\"join_ms_max\":%.2f,"
              "\"leave_ms_median\":%.2f,\"leave_ms_max\":%.2f,\"reregister_ms_median\":%.2f,\"reregister_ms_max\":%.2f}\n",
              providers, first, Median(join), *std::max_element(join.begin(), join.end()), Median(leave),
              *std::max_element(leave.begin(), leave.end()), Median(change), *std::max_element(change.begin(), change.end()));
  ch.Shutdown();
  for (int i = 0; i < providers; ++i) (void)zk.Delete(path(i));
  zk.Stop();
  return 0;
}
