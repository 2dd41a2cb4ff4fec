//! PHP: the PHP version, php-fpm or mod_php, the extensions to build, the document root,
//! Laravel's writable directories.

use serde_json::Value;

use super::{Facts, SYSTEM_LIBS, base_tag_version, base_tags, leading_version, minor};
use crate::analysis::Analysis;
use crate::project::Project;

impl Facts {
    /// Runs after `detect_ruby`: in a tree with both, Laravel's writable directories win.
    pub(super) fn detect_php(&mut self, project: &Project, analysis: &Analysis) {
        let composer: Option<Value> = project.manifest("composer.json").and_then(|t| serde_json::from_str(t).ok());
        let php =
            composer.as_ref().and_then(|c| c["require"]["php"].as_str().and_then(leading_version)).map(|v| minor(&v));
        self.set_if_absent("php_version", php, "composer.json require.php");
        self.set_if_absent(
            "php_version",
            base_tag_version(analysis, &["php"]).map(|v| minor(&v)),
            "the original base image",
        );
        // php-fpm needs a web server in front, mod_php does not: the two do not replace each other.
        for (variant, feature) in [("fpm", "php:fpm"), ("apache", "php:apache")] {
            if base_tags(analysis, "php").any(|tag| tag.contains(variant)) {
                self.features.insert(feature.into());
            }
        }
        if let Some(composer) = &composer {
            let required =
                composer["require"].as_object().into_iter().flatten().filter_map(|(k, _)| k.strip_prefix("ext-"));
            let (mut extensions, mut needs_libs) = (Vec::new(), false);
            for extension in required.map(str::to_ascii_lowercase) {
                if PHP_BUILTIN_EXTENSIONS.contains(&extension.as_str()) {
                    continue;
                }
                if PHP_EXTENSIONS_WITHOUT_LIBS.contains(&extension.as_str()) {
                    extensions.push(Value::from(extension));
                } else {
                    needs_libs = true;
                }
            }
            self.set("php_extensions", extensions, "composer.json require ext-*");
            if needs_libs {
                self.features.insert(SYSTEM_LIBS.into());
            }
            let root = if project.has_file("public/index.php") { "public" } else { "." };
            self.set("document_root", root, "the location of index.php");
        }
        if project.has_file("artisan") {
            self.set("writable_dirs", vec!["storage", "bootstrap/cache"], "the framework's writable directories");
        }
    }
}

/// Extensions compiled into the official php images.
const PHP_BUILTIN_EXTENSIONS: &[&str] = &[
    "ctype",
    "curl",
    "date",
    "dom",
    "fileinfo",
    "filter",
    "ftp",
    "hash",
    "iconv",
    "json",
    "libxml",
    "mbstring",
    "mysqlnd",
    "openssl",
    "pcre",
    "pdo",
    "pdo_sqlite",
    "phar",
    "posix",
    "readline",
    "reflection",
    "session",
    "simplexml",
    "sodium",
    "spl",
    "sqlite3",
    "standard",
    "tokenizer",
    "xml",
    "xmlreader",
    "xmlwriter",
    "zlib",
];

/// Extensions `docker-php-ext-install` builds from PHP's own source, without system libraries.
const PHP_EXTENSIONS_WITHOUT_LIBS: &[&str] = &[
    "bcmath",
    "calendar",
    "exif",
    "gettext",
    "mysqli",
    "opcache",
    "pcntl",
    "pdo_mysql",
    "shmop",
    "sockets",
    "sysvmsg",
    "sysvsem",
    "sysvshm",
];
