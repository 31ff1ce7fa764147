import Hummingbird

/// The page and its API description, compiled into the binary (Package.swift embeds the files of
/// `Page/` and `openapi.json`): nothing is fetched from anywhere else, so it works offline.
enum Page {
    static let files: [(path: String, type: String, bytes: [UInt8])] = [
        ("/", "text/html; charset=utf-8", PackageResources.index_html),
        ("/studio.css", "text/css; charset=utf-8", PackageResources.studio_css),
        ("/studio.js", "text/javascript; charset=utf-8", PackageResources.studio_js),
        ("/openapi.json", "application/json; charset=utf-8", PackageResources.openapi_json),
    ]

    /// The page may only load what this server serves.
    static let securityPolicy = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'"

    static func addRoutes(to router: Router<BasicRequestContext>) {
        for file in files {
            router.get(RouterPath(file.path)) { _, _ -> Response in
                response(file.bytes, type: file.type, headers: [.contentSecurityPolicy: securityPolicy, .cacheControl: "no-cache"])
            }
        }
    }
}
