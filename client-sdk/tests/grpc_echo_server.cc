// A gRPC C++ echo server in a process of its own, on the port given as its argument, serving
// (with gRPC's standard health service) until it is killed.
#include <cstdio>
#include <string>

#include "grpc_echo.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  grpc::EnableDefaultHealthCheckService(true);
  krpc::testing::GrpcEcho service;
  grpc::ServerBuilder b;
  int port = 0;
  b.AddListeningPort("127.0.0.1:" + std::string(argv[1]), grpc::InsecureServerCredentials(), &port);
  b.RegisterService(&service);
  auto server = b.BuildAndStart();
  if (!server || port <= 0) return 1;
  std::printf("port %d\n", port);
  std::fflush(stdout);
  server->Wait();
  return 0;
}
