{
  "variables": {
    "pidflow_has_libbpf": "<!(test -f /usr/include/bpf/libbpf.h && command -v clang >/dev/null 2>&1 && echo 1 || echo 0)"
  },
  "targets": [
    {
      "target_name": "pidflow",
      "sources": [
        "native/addon.cc",
        "native/capture.cc",
        "native/decode.cc",
        "native/savefile.cc",
        "native/sock_events.cc",
        "native/sock_diag.cc",
        "native/conntrack.cc",
        "native/socket_owners.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags": ["-Wall", "-Wextra", "-fstack-protector-strong"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-fstack-protector-strong"],
      "libraries": ["-lpcap", "-lpthread"],
      "conditions": [
        [
          "pidflow_has_libbpf==1",
          {
            "defines": ["PIDFLOW_HAVE_LIBBPF"],
            "include_dirs": ["<(INTERMEDIATE_DIR)"],
            "libraries": ["-lbpf", "-lelf", "-lz"],
            "actions": [
              {
                "action_name": "build_sock_events_bpf",
                "inputs": [
                  "native/bpf/sock_events.bpf.c",
                  "native/bpf/sock_events.h",
                  "native/bpf/kernel_types.h",
                  "native/bpf/build_bpf.py"
                ],
                "outputs": ["<(INTERMEDIATE_DIR)/sock_events_bpf.h"],
                "action": [
                  "python3",
                  "native/bpf/build_bpf.py",
                  "native/bpf/sock_events.bpf.c",
                  "<(INTERMEDIATE_DIR)/sock_events_bpf.h"
                ],
                "message": "Compiling the socket events BPF program (clang -target bpf)"
              },
              {
                "action_name": "build_socket_owners_bpf",
                "inputs": [
                  "native/bpf/socket_owners.bpf.c",
                  "native/bpf/socket_owners.h",
                  "native/bpf/kernel_types.h",
                  "native/bpf/build_bpf.py"
                ],
                "outputs": ["<(INTERMEDIATE_DIR)/socket_owners_bpf.h"],
                "action": [
                  "python3",
                  "native/bpf/build_bpf.py",
                  "native/bpf/socket_owners.bpf.c",
                  "<(INTERMEDIATE_DIR)/socket_owners_bpf.h"
                ],
                "message": "Compiling the socket owners BPF iterator (clang -target bpf)"
              }
            ]
          }
        ]
      ]
    }
  ]
}
