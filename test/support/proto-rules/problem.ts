/** One way an object breaks its proto type or a validate.rules annotation. */
export interface Problem {
  /** Where, e.g. `static_resources.clusters[0].connect_timeout`; `''` is the object itself. */
  readonly path: string;
  /**
   * Which rule: a validate rule such as `string.min_len` or `oneof.required`, a structural one
   * (`unknown_field`, `type`, `enum.unknown_name`, `any.unknown_type`, `oneof.multiple`), or
   * `unsupported` for an annotation this checker cannot evaluate (it never passes silently).
   */
  readonly rule: string;
  readonly message: string;
}

/** Records a problem at the position the caller is checking. */
export type Report = (rule: string, message: string) => void;
