{
  "targets": [
    {
      "target_name": "lab_tracer",
      "sources": ["tracer.cc"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-std=c++17", "-Wall"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    }
  ]
}
