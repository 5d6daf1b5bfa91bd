//! Build script: napi-rs's link setup for a Node-API addon.

fn main() {
    napi_build::setup();
}
