//! Java: the Java version and build tool from Maven or Gradle, runnable jars, the Gradle
//! project name, Spring Boot's launcher.

use super::{Facts, base_tag_version, leading_version, major, quoted_after, xml_value};
use crate::analysis::Analysis;
use crate::project::Project;

impl Facts {
    pub(super) fn detect_jvm(&mut self, project: &Project, analysis: &Analysis) {
        if let Some(pom) = project.manifest("pom.xml") {
            let version = ["java.version", "maven.compiler.release", "maven.compiler.target", "release"]
                .iter()
                .find_map(|tag| xml_value(pom, tag))
                .and_then(|v| leading_version(&v))
                .map(|v| major(&v).to_owned());
            self.set_if_absent("java_version", version, "pom.xml");
            self.set("java_build_tool", "maven", "pom.xml");
            let runnable = ["maven-shade-plugin", "maven-assembly-plugin", "spring-boot-maven-plugin", "<mainClass>"];
            if runnable.iter().any(|marker| pom.contains(marker)) {
                self.features.insert("maven:runnable-jar".into());
            }
            if let Some(boot) = pom
                .split("<artifactId>spring-boot-starter-parent</artifactId>")
                .nth(1)
                .and_then(|rest| xml_value(rest, "version"))
            {
                self.set_boot_launcher(&boot, "pom.xml spring-boot-starter-parent");
            }
        }
        for gradle in ["build.gradle", "build.gradle.kts"] {
            if let Some(text) = project.manifest(gradle) {
                let version = text
                    .split("JavaLanguageVersion.of(")
                    .nth(1)
                    .or_else(|| text.split("VERSION_").nth(1))
                    .and_then(leading_version)
                    .map(|v| major(&v.replace('_', ".")).to_owned());
                self.set_if_absent("java_version", version, gradle);
                self.set_if_absent("java_build_tool", Some("gradle"), gradle);
                let application = text.lines().map(str::trim).any(|l| {
                    l == "application"
                        || l.starts_with("id 'application'")
                        || l.starts_with("id(\"application\")")
                        || l.starts_with("application {")
                        || l.contains("plugin: 'application'")
                });
                if application {
                    self.features.insert("gradle:application".into());
                }
                if let Some(boot) = text
                    .split("org.springframework.boot")
                    .nth(1)
                    .and_then(|rest| rest.split("version").nth(1))
                    .and_then(leading_version)
                {
                    self.set_boot_launcher(&boot, gradle);
                }
            }
        }
        let root_name = ["settings.gradle", "settings.gradle.kts"]
            .iter()
            .find_map(|f| project.manifest(f).and_then(|t| quoted_after(t, "rootProject.name")));
        if project.has_file("build.gradle") || project.has_file("build.gradle.kts") {
            match root_name {
                Some(name) => self.set("gradle_project", name, "settings.gradle rootProject.name"),
                None => self.set("gradle_project", project.name(), "the project directory's name (Gradle's default)"),
            }
        }
        let base = base_tag_version(analysis, &["eclipse-temurin", "openjdk", "maven", "amazoncorretto", "gradle"]);
        self.set_if_absent("java_version", base.map(|v| major(&v).to_owned()), "the original base image");
    }

    /// Spring Boot moved its launcher to `loader.launch` in 3.2.
    fn set_boot_launcher(&mut self, version: &str, source: &str) {
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        let launcher = if (major, minor) >= (3, 2) {
            "org.springframework.boot.loader.launch.JarLauncher"
        } else {
            "org.springframework.boot.loader.JarLauncher"
        };
        self.set("jar_launcher", launcher, format!("{source} (Spring Boot {version})"));
    }
}
