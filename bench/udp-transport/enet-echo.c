/*
 * ENet 1.3 echo server and load client for bench/udp-transport's lossy
 * scenario, so ENet runs through the same proxy in the same invocation as
 * Tidewire. Built by the bench with `cc -O2 enet-echo.c -lenet` when
 * libenet-dev is installed (Debian: apt-get install -y libenet-dev).
 *
 *   enet-echo server
 *     binds 127.0.0.1 on an ephemeral port, prints "port <n>", echoes every
 *     packet back to its peer, reliable, on the channel it came in on; exits
 *     when stdin closes.
 *
 *   enet-echo client <host> <port> <clients> <hz> <warmup-ms> <measure-ms>
 *     opens <clients> hosts with one peer each, connects them all (connect
 *     times measured), then each sends a 64-byte reliable packet <hz> times a
 *     second carrying its send time; after <warmup-ms> it records round trips
 *     for <measure-ms>, waits 500 ms for late echoes of measured packets, and
 *     prints one JSON line with the echo rate and latency and connect
 *     percentiles (ms).
 */
#include <enet/enet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD 64

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double percentile(double *sorted, size_t n, double p) {
  if (n == 0) return -1;
  size_t i = (size_t)(p / 100.0 * n);
  return sorted[i < n ? i : n - 1];
}

static int run_server(void) {
  ENetAddress address;
  enet_address_set_host_ip(&address, "127.0.0.1");
  address.port = 0;
  ENetHost *host = enet_host_create(&address, 4000, 2, 0, 0);
  if (host == NULL) {
    fprintf(stderr, "enet-echo: cannot create the server host\n");
    return 1;
  }
  ENetAddress bound;
  enet_socket_get_address(host->socket, &bound);
  printf("port %u\n", bound.port);
  fflush(stdout);
  struct pollfd in = {.fd = STDIN_FILENO, .events = POLLIN};
  for (;;) {
    ENetEvent event;
    while (enet_host_service(host, &event, 1) > 0) {
      if (event.type == ENET_EVENT_TYPE_RECEIVE) {
        ENetPacket *echo = enet_packet_create(event.packet->data, event.packet->dataLength,
                                              ENET_PACKET_FLAG_RELIABLE);
        enet_peer_send(event.peer, event.channelID, echo);
        enet_packet_destroy(event.packet);
      }
    }
    if (poll(&in, 1, 0) > 0) {
      char buffer[64];
      if (read(STDIN_FILENO, buffer, sizeof buffer) <= 0) break;
    }
  }
  enet_host_destroy(host);
  return 0;
}

static int run_client(const char *hostname, int port, int clients, int hz, int warmup_ms,
                      int measure_ms) {
  ENetAddress server;
  enet_address_set_host_ip(&server, hostname);
  server.port = (enet_uint16)port;
  ENetHost **hosts = calloc(clients, sizeof *hosts);
  ENetPeer **peers = calloc(clients, sizeof *peers);
  double *connect_ms = calloc(clients, sizeof *connect_ms);
  double *next_send = calloc(clients, sizeof *next_send);
  size_t capacity = (size_t)clients * hz * (measure_ms / 1000 + 2) + 1024;
  double *latencies = malloc(capacity * sizeof *latencies);
  size_t count = 0;
  double started = now_ms();
  for (int i = 0; i < clients; i++) {
    hosts[i] = enet_host_create(NULL, 1, 2, 0, 0);
    if (hosts[i] == NULL) {
      fprintf(stderr, "enet-echo: cannot create client host %d\n", i);
      return 1;
    }
    peers[i] = enet_host_connect(hosts[i], &server, 2, 0);
    connect_ms[i] = -1;
  }
  int connected = 0;
  double deadline = started + 10000;
  while (connected < clients && now_ms() < deadline) {
    for (int i = 0; i < clients; i++) {
      ENetEvent event;
      while (enet_host_service(hosts[i], &event, 0) > 0) {
        if (event.type == ENET_EVENT_TYPE_CONNECT && connect_ms[i] < 0) {
          connect_ms[i] = now_ms() - started;
          connected++;
        }
      }
    }
    usleep(200);
  }
  if (connected < clients) {
    fprintf(stderr, "enet-echo: %d of %d clients connected\n", connected, clients);
    return 1;
  }
  double period = 1000.0 / hz;
  double begin = now_ms();
  for (int i = 0; i < clients; i++) next_send[i] = begin + period * i / clients;
  double measure_from = begin + warmup_ms;
  double measure_to = measure_from + measure_ms;
  double end = measure_to + 500;
  unsigned long echoes = 0;
  unsigned char payload[PAYLOAD];
  memset(payload, 7, sizeof payload);
  for (;;) {
    double t = now_ms();
    if (t >= end) break;
    for (int i = 0; i < clients; i++) {
      if (t < measure_to && t >= next_send[i]) {
        memcpy(payload, &t, sizeof t);
        enet_peer_send(peers[i], 0,
                       enet_packet_create(payload, sizeof payload, ENET_PACKET_FLAG_RELIABLE));
        next_send[i] += period;
      }
      ENetEvent event;
      while (enet_host_service(hosts[i], &event, 0) > 0) {
        if (event.type == ENET_EVENT_TYPE_RECEIVE) {
          double sent;
          memcpy(&sent, event.packet->data, sizeof sent);
          if (sent >= measure_from && sent < measure_to && count < capacity) {
            latencies[count++] = now_ms() - sent;
            echoes++;
          }
          enet_packet_destroy(event.packet);
        }
      }
    }
    usleep(200);
  }
  qsort(latencies, count, sizeof *latencies, compare);
  qsort(connect_ms, clients, sizeof *connect_ms, compare);
  printf("{\"echoesPerSecond\":%.1f,\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f,"
         "\"connectP50\":%.3f,\"connectP99\":%.3f,\"connectMax\":%.3f}\n",
         echoes * 1000.0 / measure_ms, percentile(latencies, count, 50),
         percentile(latencies, count, 99), count > 0 ? latencies[count - 1] : -1,
         percentile(connect_ms, clients, 50), percentile(connect_ms, clients, 99),
         connect_ms[clients - 1]);
  for (int i = 0; i < clients; i++) {
    enet_peer_reset(peers[i]);
    enet_host_destroy(hosts[i]);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (enet_initialize() != 0) {
    fprintf(stderr, "enet-echo: enet_initialize failed\n");
    return 1;
  }
  atexit(enet_deinitialize);
  if (argc == 2 && strcmp(argv[1], "server") == 0) return run_server();
  if (argc == 8 && strcmp(argv[1], "client") == 0) {
    return run_client(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]),
                      atoi(argv[7]));
  }
  fprintf(stderr,
          "usage: enet-echo server | enet-echo client <host> <port> <clients> <hz> <warmup-ms> "
          "<measure-ms>\n");
  return 2;
}
