; Inno Setup script for QuantDesk on Windows (x64). Build the bundle first (installers/README.md):
;
;   iscc /DAppVersion=0.1.0 installers\windows\quantdesk.iss
;
; Output: dist\QuantDesk-<version>-windows-x64-setup.exe. It installs per user by default (no
; administrator needed; the wizard offers "for all users" too), adds a Start menu entry and an
; optional desktop icon, and registers an uninstaller. Models, chats and settings live in
; %LOCALAPPDATA%\QuantDesk and are kept on uninstall.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

[Setup]
; The AppId identifies the app across versions (upgrades replace it): never change it.
AppId={{73F905DD-E72F-4BE6-80BD-DD1E872E1177}
AppName=QuantDesk
AppVersion={#AppVersion}
AppVerName=QuantDesk {#AppVersion}
AppPublisher=QuantDesk
AppComments=Run quantized language models on your own computer, offline and private
DefaultDirName={autopf}\QuantDesk
DefaultGroupName=QuantDesk
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir=..\..\dist
OutputBaseFilename=QuantDesk-{#AppVersion}-windows-x64-setup
SetupIconFile=quantdesk.ico
UninstallDisplayIcon={app}\QuantDesk.exe
UninstallDisplayName=QuantDesk {#AppVersion}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
CloseApplications=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; An upgrade replaces the bundle whole: files an older version had must not linger in _internal.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "..\..\dist\QuantDesk\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\QuantDesk"; Filename: "{app}\QuantDesk.exe"; AppUserModelID: "io.github.quantdesk.QuantDesk"
Name: "{autodesktop}\QuantDesk"; Filename: "{app}\QuantDesk.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\QuantDesk.exe"; Description: "{cm:LaunchProgram,QuantDesk}"; Flags: nowait postinstall skipifsilent
