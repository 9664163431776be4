using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// Sets an options object's properties from a configuration section, as <c>ConfigurationBinder.Bind</c> does for the
/// kinds of property the options here have, without its reflection over arbitrary types: the library stays trimmable
/// and Native AOT compatible (the binder is <c>RequiresDynamicCode</c>, and its source generator cannot skip the
/// code-only properties such as certificates and key stores).
/// </summary>
/// <remarks>
/// What configuration can set (<see cref="IsBindable"/>): public settable scalars (<see cref="bool"/>, <see cref="int"/>,
/// <see cref="long"/>, <see cref="double"/>, enums, strings, <see cref="TimeSpan"/>, and nullable ones), and two get-only
/// collections: a string dictionary (its children's keys and values) and a string list (its children's values,
/// appended). Keys are case-insensitive. Other keys are left to the options' validation, which names unknown and
/// code-only ones. A value that does not convert fails with the binder's own message, which names the key and never
/// shows the value (it may be a secret).
/// </remarks>
internal static class OptionsBinder
{
    private const DynamicallyAccessedMemberTypes Properties = DynamicallyAccessedMemberTypes.PublicProperties;

    /// <summary>Whether configuration can set <paramref name="property"/>.</summary>
    public static bool IsBindable(PropertyInfo property) =>
        property.GetIndexParameters().Length == 0
        && (IsScalar(property) || IsStringDictionary(property) || IsStringList(property));

    /// <summary>The bindable public properties of <typeparamref name="T"/> by name, case-insensitive.</summary>
    public static Dictionary<string, PropertyInfo> BindableProperties<[DynamicallyAccessedMembers(Properties)] T>() =>
        typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(IsBindable)
            .ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);

    /// <summary>Sets <paramref name="target"/>'s properties from <paramref name="section"/>'s children.</summary>
    /// <exception cref="InvalidOperationException">A value does not convert to its property's type.</exception>
    public static void Bind<[DynamicallyAccessedMembers(Properties)] T>(IConfiguration section, T target)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(section);
        ArgumentNullException.ThrowIfNull(target);
        var properties = BindableProperties<T>();
        foreach (var child in section.GetChildren())
        {
            if (!properties.TryGetValue(child.Key, out var property))
            {
                continue;
            }

            if (IsScalar(property))
            {
                if (child.Value is { } text)
                {
                    property.SetValue(target, Convert(text, property.PropertyType, child.Path));
                }
            }
            else
            {
                // One of the two get-only collections (IsBindable): a dictionary takes its children's keys, a list appends.
                var collection = property.GetValue(target);
                foreach (var entry in child.GetChildren())
                {
                    if (entry.Value is not { } value)
                    {
                        continue;
                    }

                    if (collection is IDictionary<string, string> dictionary)
                    {
                        dictionary[entry.Key] = value;
                    }
                    else if (collection is IList<string> list)
                    {
                        list.Add(value);
                    }
                }
            }
        }
    }

    private static bool IsScalar(PropertyInfo property)
    {
        if (property.SetMethod is not { IsPublic: true })
        {
            return false;
        }

        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        return type.IsEnum || type == typeof(string) || type == typeof(TimeSpan) || type == typeof(bool)
            || type == typeof(int) || type == typeof(long) || type == typeof(double);
    }

    private static bool IsStringDictionary(PropertyInfo property) =>
        property.SetMethod is null && property.PropertyType == typeof(IDictionary<string, string>);

    private static bool IsStringList(PropertyInfo property) =>
        property.SetMethod is null && property.PropertyType == typeof(IList<string>);

    private static object? Convert(string text, Type propertyType, string path)
    {
        var underlying = Nullable.GetUnderlyingType(propertyType);
        if (underlying is not null && text.Length == 0)
        {
            return null;
        }

        var type = underlying ?? propertyType;
        if (type == typeof(string))
        {
            return text;
        }

        try
        {
            // Each branch boxes its own type: a conditional expression would convert them all to one (double).
            if (type.IsEnum)
            {
                return Enum.Parse(type, text, ignoreCase: true);
            }

            if (type == typeof(TimeSpan))
            {
                return TimeSpan.Parse(text, CultureInfo.InvariantCulture);
            }

            if (type == typeof(bool))
            {
                return bool.Parse(text);
            }

            if (type == typeof(int))
            {
                return int.Parse(text, NumberStyles.Integer, CultureInfo.InvariantCulture);
            }

            if (type == typeof(long))
            {
                return long.Parse(text, NumberStyles.Integer, CultureInfo.InvariantCulture);
            }

            if (type == typeof(double))
            {
                return double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
            }

            throw new NotSupportedException($"{type} is not a configuration type here.");
        }
        catch (Exception ex) when (ex is FormatException or OverflowException or ArgumentException)
        {
            // ConfigurationBinder's message, word for word: callers and tests know it.
            throw new InvalidOperationException($"Failed to convert configuration value at '{path}' to type '{type}'.", ex);
        }
    }
}
