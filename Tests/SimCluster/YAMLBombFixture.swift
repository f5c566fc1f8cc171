/// The YAML alias bomb of issue 14, item 6, shared by the unit, install and black-box tests:
/// seven levels of nine aliases, 4.8 million strings from 346 bytes. Before aphex refused
/// anchors and aliases at the event level, `bootstrap --dry-run --manifests-dir` with it took
/// 27 s and 378 MB and exited 0.
public enum AliasBomb {
    public static let manifest = """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: bomb
        data:
          a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
          b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
          c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
          d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
          e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
          f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
          g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]

        """
}
