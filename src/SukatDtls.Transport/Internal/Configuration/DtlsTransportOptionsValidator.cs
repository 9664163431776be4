using Microsoft.Extensions.Options;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// Start-up validation of options bound from configuration (<c>ValidateOnStart</c>): the host does not start, and
/// <see cref="OptionsValidationException"/> lists every failure with its configuration key. The rules are
/// <see cref="DtlsTransportOptionsRules"/>, the same that <see cref="DtlsTransportOptions.Validate"/> applies.
/// </summary>
internal sealed class DtlsTransportOptionsValidator : IValidateOptions<DtlsTransportOptions>
{
    public ValidateOptionsResult Validate(string? name, DtlsTransportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = DtlsTransportOptionsRules.Check(options);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
