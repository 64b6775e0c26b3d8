{
  "targets": [
    {
      "target_name": "pidflow",
      "sources": [
        "native/addon.cc",
        "native/capture.cc",
        "native/decode.cc",
        "native/savefile.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags": ["-Wall", "-Wextra", "-fstack-protector-strong"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-fstack-protector-strong"],
      "libraries": ["-lpcap", "-lpthread"]
    }
  ]
}
